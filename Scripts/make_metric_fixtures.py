#!/opt/torchenv/bin/python
"""Reference values for Kallima's generator metrics: Inception Score, the MMD core of KID,
and improved precision and recall.

Writes Tests/KallimaEvalTests/Fixtures/metrics.json, a small committed fixture that
Tests/KallimaEvalTests/{InceptionScore,KernelInceptionDistance,PrecisionRecall}Tests.swift
check on both backends (CPU and OpenCL). The Swift build and tests never run this script;
rerun it by hand only when a case is added or changed:

    /opt/torchenv/bin/python Scripts/make_metric_fixtures.py

Method: every input is drawn with NumPy's seeded generator and rounded to float32, so it is
exactly what the Swift side writes into a float32 tensor; the expected outputs are computed
from those values in float64 by the plain NumPy implementations below, written from the
papers' formulas and the semantics of the reference code:

  * Inception Score (Salimans et al. 2016, "Improved techniques for training GANs"; splits as
    in torch-fidelity's isc_features_to_metric and the original improved-GAN code): softmax
    of the logits, consecutive splits rows [i*N//S, (i+1)*N//S), per split
    exp(mean_x KL(p(y|x) || p(y))) with p(y) the split's mean prediction; mean and numpy std
    (ddof 0) over splits. torch-fidelity first shuffles the rows with
    np.random.RandomState(2020).permutation(N); Kallima does not shuffle (generated samples
    are already in random order), and neither do these references.
  * MMD^2 (Binkowski et al. 2018, "Demystifying MMD GANs"), polynomial kernel
    k(x, y) = (x.y/d + 1)^3, unbiased estimator. For equal sizes it is torch-fidelity's
    mmd2(..., mmd_est="unbiased") transcribed; for unequal sizes the general unbiased form
    sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1)) - 2 sum k(x_i,y_j)/(mn).
  * Precision and recall (Kynkaanniemi et al. 2019, "Improved precision and recall metric
    for assessing generative models"), k = 3: the radius of a sample is the distance to its
    k-th nearest neighbour in its own set, itself excluded (torch-fidelity: kthvalue(k + 1)
    of the distances including the zero to itself); precision = fraction of fake samples
    within (<=) the radius of at least one real sample, recall the same with roles swapped.
    The script asserts that no distance lies within a relative 1e-4 of a radius it is
    compared with, so float32 rounding on a device cannot flip a decision.

Layout:
    {"generator": ..., "numpy_version": ..., "seed": ...,
     "inception_score": {name: {"logits": {"shape", "data"}, "splits", "mean", "std", "split_scores"}},
     "mmd": {name: {"x": {...}, "y": {...}, "mmd2", "kernel_scale"}},
     "precision_recall": {name: {"real": {...}, "fake": {...}, "k", "precision", "recall",
                                 "real_radii", "fake_radii", "margin"}}}
"""

import json
import os

import numpy as np

SEED = 20250521
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "KallimaEvalTests", "Fixtures",
    "metrics.json")


def f32(a):
    """Rounds to float32 values, kept in float64 (exactly what Swift's [Float] holds)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def enc(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def enc_f32(a):
    """An input: float32 values written with the shortest decimal that reads back as the same
    float32 (Swift parses them into Float exactly), which keeps the fixture small."""
    a = np.asarray(a, dtype=np.float32)
    for v in a.reshape(-1):
        assert np.float32(float(str(v))) == v
    return {"shape": list(a.shape), "data": [float(str(v)) for v in a.reshape(-1)]}


# MARK: Inception Score

def inception_score(logits, splits=10):
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log_softmax
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(axis=0, keepdims=True)  # p(y) over the split
        kl = (p[lo:hi] * (log_p[lo:hi] - np.log(q))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores)), [float(s) for s in scores]


def is_case(rng, n, c, scale):
    logits = f32(rng.standard_normal((n, c)) * scale)
    mean, std, scores = inception_score(logits)
    return {"logits": enc_f32(logits), "splits": 10, "mean": mean, "std": std, "split_scores": scores}


# MARK: MMD^2 with the cubic polynomial kernel

def poly_kernel(a, b):
    d = a.shape[1]
    return (a @ b.T / d + 1.0) ** 3


def mmd2_torch_fidelity(k_xx, k_xy, k_yy):
    """torch-fidelity's mmd2(K_XX, K_XY, K_YY, unit_diagonal=False, mmd_est='unbiased')."""
    m = k_xx.shape[0]
    assert k_xx.shape == (m, m) and k_xy.shape == (m, m) and k_yy.shape == (m, m)
    diag_x, diag_y = np.diagonal(k_xx), np.diagonal(k_yy)
    kt_xx_sums = k_xx.sum(axis=1) - diag_x
    kt_yy_sums = k_yy.sum(axis=1) - diag_y
    k_xy_sums_0 = k_xy.sum(axis=0)
    kt_xx_sum, kt_yy_sum, k_xy_sum = kt_xx_sums.sum(), kt_yy_sums.sum(), k_xy_sums_0.sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def mmd2_general(k_xx, k_xy, k_yy):
    m, n = k_xx.shape[0], k_yy.shape[0]
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return off_xx / (m * (m - 1)) + off_yy / (n * (n - 1)) - 2 * k_xy.sum() / (m * n)


def mmd_case(x, y):
    k_xx, k_xy, k_yy = poly_kernel(x, x), poly_kernel(x, y), poly_kernel(y, y)
    value = mmd2_general(k_xx, k_xy, k_yy)
    if x.shape[0] == y.shape[0]:
        reference = mmd2_torch_fidelity(k_xx, k_xy, k_yy)
        assert abs(reference - value) <= 1e-12 * abs(reference) + 1e-15, (reference, value)
        value = reference
    scale = max(np.abs(k_xx).mean(), np.abs(k_xy).mean(), np.abs(k_yy).mean())
    return {"x": enc_f32(x), "y": enc_f32(y), "mmd2": float(value), "kernel_scale": float(scale)}


# MARK: Precision and recall

def squared_distances(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)


def radii(features, k):
    """Distance of each sample to its k-th nearest neighbour in the same set, itself excluded."""
    d2 = squared_distances(features, features)
    return np.sqrt(np.sort(d2, axis=1)[:, k])  # column 0 is the zero distance to itself


def coverage(queries, centres, centre_radii):
    """Fraction of queries within (<=) the radius of at least one centre, and the smallest
    relative gap |d - r| / r over all pairs (how far every decision is from a tie)."""
    d = np.sqrt(squared_distances(queries, centres))
    inside = (d <= centre_radii[None, :]).any(axis=1)
    margin = (np.abs(d - centre_radii[None, :]) / centre_radii[None, :]).min()
    return float(inside.mean()), float(margin)


def pr_case(real, fake, k=3):
    real_radii, fake_radii = radii(real, k), radii(fake, k)
    precision, m1 = coverage(fake, real, real_radii)
    recall, m2 = coverage(real, fake, fake_radii)
    margin = min(m1, m2)
    assert margin > 1e-4, f"a distance lies within {margin:.2e} of a radius: pick another seed"
    assert 0 < precision < 1 and 0 < recall < 1, (precision, recall)
    return {
        "real": enc_f32(real), "fake": enc_f32(fake), "k": k, "precision": precision, "recall": recall,
        "real_radii": enc(real_radii), "fake_radii": enc(fake_radii), "margin": margin,
    }


def main():
    rng = np.random.default_rng(SEED)
    doc = {
        "generator": "Scripts/make_metric_fixtures.py",
        "numpy_version": np.__version__,
        "seed": SEED,
        "note": "inputs are float32 values; expected outputs computed by NumPy in float64",
        "inception_score": {
            "logits_100x10": is_case(rng, 100, 10, 3.0),
            "logits_37x5": is_case(rng, 37, 5, 2.0),
        },
        # Non-negative features, like Inception's pooled activations; the fake set is shifted
        # and scaled so that MMD^2 is clearly positive.
        "mmd": {
            "unequal_60x16_50x16": mmd_case(
                f32(np.abs(rng.standard_normal((60, 16)))),
                f32(np.abs(rng.standard_normal((50, 16))) * 1.2 + 0.1)),
            "equal_50x16": mmd_case(
                f32(np.abs(rng.standard_normal((50, 16)))),
                f32(np.abs(rng.standard_normal((50, 16))) * 0.9 + 0.2)),
            # d = 10: 1/d is not a float32, so the kernel must not round it.
            "unequal_40x10_30x10": mmd_case(
                f32(np.abs(rng.standard_normal((40, 10))) * 2.0),
                f32(np.abs(rng.standard_normal((30, 10))) * 2.0 + 0.3)),
        },
        "precision_recall": {
            "real_60x16_fake_50x16": pr_case(
                f32(rng.standard_normal((60, 16)) + 3.0),
                f32(rng.standard_normal((50, 16)) * 1.3 + 3.4)),
        },
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes), numpy {np.__version__}")
    for name, c in doc["precision_recall"].items():
        print(f"  {name}: precision {c['precision']:.4f}, recall {c['recall']:.4f}, margin {c['margin']:.2e}")
    for name, c in doc["mmd"].items():
        print(f"  {name}: mmd2 {c['mmd2']:.6g}, kernel scale {c['kernel_scale']:.4g}")
    for name, c in doc["inception_score"].items():
        print(f"  {name}: IS {c['mean']:.6g} +- {c['std']:.4g}")


if __name__ == "__main__":
    main()
