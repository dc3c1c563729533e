#!/opt/torchenv/bin/python
"""L1, PSNR and SSIM from scikit-image, as a fixture for
Tests/KallimaEvalTests/ImageFidelityTests.swift (Kallima's KallimaEval/ImageFidelity.swift).

    /opt/torchenv/bin/pip install scikit-image   # 0.26.0 made the stored file
    /opt/torchenv/bin/python Scripts/make_image_fidelity_fixtures.py

Writes Tests/KallimaEvalTests/Fixtures/image_fidelity.json. The build and tests never run it.

Images: a and b, [N, C, H, W] = [3, 3, 16, 20] (not square, so a transposed window would
show), float32 values in [-1, 1] (Kallima's range); the metrics see (x + 1) / 2 in float64
(exact). Pairs: b = a + N(0, 0.05) noise; b = a + N(0, 0.3) noise (clipped to [-1, 1]);
b = a 3x3 box-blurred. Per image, in float64:
  l1   = mean |a - b| over C, H, W (numpy)
  psnr = skimage.metrics.peak_signal_noise_ratio(a, b, data_range=1)
  ssim = skimage.metrics.structural_similarity(a, b, channel_axis=0, gaussian_weights=True,
         sigma=1.5, use_sample_covariance=False, data_range=1)
         (Wang et al. 2004: 11x11 Gaussian window, K1 0.01, K2 0.03; the mean over the region
         whose window lies inside the image, averaged over channels)
"""
import json
import os

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "KallimaEvalTests", "Fixtures", "image_fidelity.json")

rng = np.random.default_rng(20261129)
N, C, H, W = 3, 3, 16, 20
yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
a = np.stack([np.stack([np.sin(0.4 * xx + 0.3 * c + i) * np.cos(0.25 * yy - 0.2 * c) for c in range(C)])
              for i in range(N)])
a = np.clip(a * 0.8 + rng.normal(0, 0.1, a.shape), -1, 1).astype(np.float32)
b = a.copy().astype(np.float64)
b[0] = a[0] + rng.normal(0, 0.05, a[0].shape)
b[1] = a[1] + rng.normal(0, 0.3, a[1].shape)
pad = np.pad(a[2].astype(np.float64), ((0, 0), (1, 1), (1, 1)), mode="edge")
b[2] = sum(pad[:, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)) / 9
b = np.clip(b, -1, 1).astype(np.float32)

l1, psnr, ssim = [], [], []
for i in range(N):
    x = (a[i].astype(np.float64) + 1) / 2
    y = (b[i].astype(np.float64) + 1) / 2
    l1.append(float(np.mean(np.abs(x - y))))
    psnr.append(float(peak_signal_noise_ratio(x, y, data_range=1)))
    ssim.append(float(structural_similarity(x, y, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False, data_range=1)))

with open(OUT, "w") as f:
    json.dump({"skimage": skimage.__version__, "shape": [N, C, H, W],
               "a": [float(v) for v in a.ravel()], "b": [float(v) for v in b.ravel()],
               "l1": l1, "psnr": psnr, "ssim": ssim}, f)
print("l1", l1, "\npsnr", psnr, "\nssim", ssim)
