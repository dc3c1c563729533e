#!/opt/torchenv/bin/python
"""Reference values from NumPy and SciPy for Kallima's Fréchet distance and .npz statistics.

Writes, under Tests/KallimaEvalTests/Fixtures/:
  frechet.json        feature-generator parameters and the expected statistics and FID values
                      (Tests/KallimaEvalTests/FrechetDistanceTests.swift)
  frechet_npz.json    the values stored in the .npz fixtures below, as float64 bit patterns
  stats_*.npz         tiny pytorch-fid style statistics files written by numpy
                      (Tests/KallimaEvalTests/NPZTests.swift)

The Swift build and tests never run this script; rerun it by hand (about a minute, most of
it scipy.linalg.sqrtm at d = 2048) only when a case is added or changed:

    /opt/torchenv/bin/python Scripts/make_frechet_fixtures.py

Features. Feature sets of up to 3000 x 2048 are too big to commit, so both sides generate
them from a counter-based integer hash and only the parameters are stored. Every float64
operation below is a single IEEE operation evaluated in the same order in Swift, so the
features agree bit for bit (the test checks a few of them):

    splitmix64(seed, i): z = seed + (i + 1) * 0x9E3779B97F4A7C15 (mod 2^64)
                         z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
                         z = (z ^ (z >> 27)) * 0x94D049BB133111EB
                         return z ^ (z >> 31)
    uniform(seed, i)   = float64(splitmix64(seed, i) >> 11) * 2^-52 - 1       (exact, in [-1, 1))
    u[i, j] = uniform(seed,     i*d + j)       noise, [n, d]
    z[i, l] = uniform(seed + 1, i*k + l)       latent factors, [n, k]
    w[l, j] = uniform(seed + 2, l*d + j)       mixing matrix, [k, d]
    s[j]    = 0.5 + 0.75 * (uniform(seed + 3, j) + 1)     per-feature scale in [0.5, 2)
    x       = s[j] * u[i, j];  for l in 0..<k: x = x + (latent * z[i, l]) * w[l, j];  x = x + shift
    feature = float32(x)       (round to nearest even)

so each covariance is a diagonal spread over a factor of 16 plus a rank-k component: far from
the identity, and full rank exactly when N > d.

Statistics. mean and covariance (divisor N - 1) are computed in float64 from the float32
features (np.mean / np.cov), as Kallima's host path does. pytorch-fid itself takes the mean
of its float32 activations in float32; that changes FID here by far less than the tolerance.

FID. `fid` is calculate_frechet_distance of pytorch-fid (src/pytorch_fid/fid_score.py)
run as written: sqrtm(sigma1 @ sigma2); only if that is not finite, retry with 1e-6 * I added
to both covariances; real part if the imaginary diagonal is below 1e-3. `sqrtm_finite` says
whether the retry was needed. `fid_offset` forces pytorch-fid's retry branch (traces of the
unmodified covariances, square root of the offset product) so that Kallima's optional
offset can be checked too.
"""

import json
import os
import warnings

import numpy as np
import scipy
from scipy import linalg

FIXTURES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "KallimaEvalTests", "Fixtures")

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
EPS = 1e-6  # pytorch-fid's default eps


def splitmix64(seed, index):
    """Counter-based splitmix64 of uint64 array `index` (numpy uint64 arithmetic wraps)."""
    z = np.uint64(seed) + (index + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


def uniform(seed, shape):
    count = int(np.prod(shape))
    bits = splitmix64(seed, np.arange(count, dtype=np.uint64))
    return ((bits >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0).reshape(shape)


def features(p):
    n, d, k, seed = p["n"], p["d"], p["k"], p["seed"]
    u = uniform(seed, (n, d))
    z = uniform(seed + 1, (n, k))
    w = uniform(seed + 2, (k, d))
    s = 0.5 + 0.75 * (uniform(seed + 3, (d,)) + 1.0)
    x = s[None, :] * u
    for l in range(k):
        x = x + (p["latent"] * z[:, l:l + 1]) * w[l:l + 1, :]
    x = x + p["shift"]
    return x.astype(np.float32)


def pytorch_fid(mu1, sigma1, mu2, sigma2, force_offset=False):
    """pytorch-fid's calculate_frechet_distance, step for step, with what happened."""
    diff = mu1 - mu2
    finite = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # disp= is deprecated in SciPy 1.16
        if not force_offset:
            covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
            finite = bool(np.isfinite(covmean).all())
        if force_offset or not finite:
            offset = np.eye(sigma1.shape[0]) * EPS
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    imaginary = 0.0
    if np.iscomplexobj(covmean):
        imaginary = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(imaginary))
        covmean = covmean.real
    tr_covmean = float(np.trace(covmean))
    fid = float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
    return fid, tr_covmean, finite, imaginary


def summary(x):
    """A few statistics of float32 features [n, d] that pin the generator and the moments."""
    n, d = x.shape
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=0)
    sigma = np.cov(x64, rowvar=False)
    return mu, sigma, {
        "features": {"0,0": float(x[0, 0]), "0,1": float(x[0, 1]), "last": float(x[n - 1, d - 1])},
        "mean": {"0": mu[0], "last": mu[d - 1], "sum": float(mu.sum())},
        "covariance": {
            "0,0": sigma[0, 0], "0,1": sigma[0, 1], "last,last-1": sigma[d - 1, d - 2],
            "trace": float(np.trace(sigma)), "sum": float(sigma.sum())},
    }


def frechet_case(name, d, n, k=4):
    a = {"seed": 1000, "n": n, "d": d, "k": k, "latent": 1.0, "shift": 0.0}
    b = {"seed": 2000, "n": n, "d": d, "k": k, "latent": 1.5, "shift": 0.1}
    mu1, sigma1, sa = summary(features(a))
    mu2, sigma2, sb = summary(features(b))
    fid, tr, finite, imaginary = pytorch_fid(mu1, sigma1, mu2, sigma2)
    fid_offset, tr_offset, _, _ = pytorch_fid(mu1, sigma1, mu2, sigma2, force_offset=True)
    print(f"{name}: fid {fid!r} (sqrtm finite: {finite}, imaginary diagonal {imaginary:.3g}), "
          f"offset branch {fid_offset!r}")
    return {
        "name": name, "a": {"params": a, **sa}, "b": {"params": b, **sb},
        "fid": fid, "tr_covmean": tr, "sqrtm_finite": finite, "max_imaginary_diagonal": imaginary,
        "fid_offset": fid_offset, "tr_covmean_offset": tr_offset,
    }


def bits(values):
    return ["%016x" % int(v) for v in np.asarray(values, dtype=np.float64).reshape(-1).view(np.uint64)]


def npz_fixtures():
    """Tiny statistics files as numpy and pytorch-fid write them, plus broken variants."""
    mu = np.array([0.1, -2.5, 1.0 / 3.0])
    sigma = np.array([[1.0, 0.5, 1e-300], [0.5, 2.0, -7.25e5], [1e-300, -7.25e5, np.pi]])
    out = {}

    def save(name, compressed=False, **arrays):
        path = os.path.join(FIXTURES, name)
        (np.savez_compressed if compressed else np.savez)(path, **arrays)
        out[name] = {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()}

    save("stats_savez.npz", mu=mu, sigma=sigma)
    save("stats_savez_compressed.npz", compressed=True, mu=mu, sigma=sigma)
    # pytorch-fid's save_fid_stats stores the float32 mean of float32 activations.
    save("stats_mu_f4.npz", compressed=True, mu=mu.astype(np.float32), sigma=sigma)
    save("stats_fortran.npz", mu=mu, sigma=np.asfortranarray(sigma + np.triu(np.ones((3, 3)), 1)))
    save("stats_int.npz", mu=mu, sigma=np.arange(9, dtype=np.int64).reshape(3, 3))
    save("stats_no_sigma.npz", mu=mu)
    return {
        "generator": "Scripts/make_frechet_fixtures.py", "numpy_version": np.__version__,
        "files": out,
        "mu": {"shape": [3], "bits": bits(mu)},
        "mu_f4": {"shape": [3], "bits": bits(mu.astype(np.float32).astype(np.float64))},
        "sigma": {"shape": [3, 3], "bits": bits(sigma)},
    }


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    cases = [
        frechet_case("d64_n200", 64, 200),
        frechet_case("d64_n64", 64, 64),
        frechet_case("d64_n40", 64, 40),
        frechet_case("d2048_n3000", 2048, 3000),
        frechet_case("d2048_n500", 2048, 500),
    ]
    fixture = {
        "generator": "Scripts/make_frechet_fixtures.py",
        "numpy_version": np.__version__, "scipy_version": scipy.__version__, "eps": EPS,
        "cases": cases,
    }
    with open(os.path.join(FIXTURES, "frechet.json"), "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    with open(os.path.join(FIXTURES, "frechet_npz.json"), "w") as f:
        json.dump(npz_fixtures(), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
