#!/opt/torchenv/bin/python
"""PyTorch goldens for Kallima's InceptionV3 (pytorch-fid's FID Inception), without its weights.

Writes two small committed fixtures that Tests/KallimaEvalTests/InceptionTests.swift checks:

    Tests/KallimaEvalTests/Fixtures/inception_blocks.json   one case per block type
    Tests/KallimaEvalTests/Fixtures/inception_network.json  the whole network: pool3 features and
        logits of 2 images, the stem / Mixed_6e / Mixed_7c maps ("taps", stored like a block
        case but without channel means), the generator's first values ("generator_check"),
        and fid_inception_v3().state_dict()'s names and shapes in order ("state_dict")

The Swift build and tests never run this script; rerun it by hand only when a case changes:

    /opt/torchenv/bin/pip install pytorch-fid       # once: the reference code (not its weights)
    /opt/torchenv/bin/python Scripts/make_inception_fixtures.py

The real weights (pt_inception-2015-12-05-6726825d.pth) are not needed and never downloaded:
every parameter and every input comes from a tiny counter-based generator that
InceptionTests.swift implements identically, so the fixtures hold only the generator's
seed, the shapes, and the expected outputs.

Generator (all arithmetic on unsigned 64-bit integers, wrapping):
    mix(z)   = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
               z ^ (z >> 31)                                         (splitmix64's finaliser)
    key      = mix(fnv1a64(utf8 name) ^ seed)
    u(i)     = (mix(key + (i + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53   in [0, 1)
    value(i) = float32(low + (high - low) * u(i))                        (float64 arithmetic)
i is the row-major element index in the tensor named `name`. Ranges (`ranges` below):
    *.conv.weight       ±sqrt(6 / fan_in)     He-uniform, so activations stay O(1) through BN+ReLU
    *.bn.weight         [0.5, 1.5)            *.bn.bias, *.bn.running_mean   [-0.1, 0.1)
    *.bn.running_var    [0.5, 1.5)
    fc.weight           ±sqrt(3 / 2048)       fc.bias                        [-0.1, 0.1)
    input:<block>       [-0.5, 1.0)  block inputs (negatives make max-pool padding visible)
    images              [0, 1)       the whole network's input, as pytorch-fid expects

Method: the reference model is pytorch-fid's own code. `fid_inception_v3` downloads the
weights, so this script builds the same module tree the way it does (torchvision's
inception_v3(num_classes=1008, aux_logits=False) with FIDInceptionA/C/E_1/E_2 patched in),
loads the generated state dict into it, and makes pytorch_fid.inception.InceptionV3 use it;
the whole-network golden is therefore pytorch-fid's forward (resize to 299 bilinear with
align_corners=False, 2x − 1, blocks, adaptive average pool) in float64. Logits are
`fc(flatten(pool3))`, torchvision's head in eval mode (dropout is the identity).

Block outputs are large, so a block case stores, besides its shapes:
    channel_mean  [C]      mean over N, H, W of each output channel
    position_mean [N·H·W]  mean over C at each (n, y, x)
    samples       256 (flat index, value) pairs at fixed random positions
Every output channel is either a ReLU output (>= 0) or, in Mixed_6a/7a, a max-pool copy of
the block input (no arithmetic, so no rounding error), so a mean is off by at most the
elementwise tolerance at its mean: the Swift test compares means with that bound.
Values are written with 9 significant digits (relative rounding 5e-10).
"""

import json
import math
import os

import numpy as np

import fixture_generator  # Scripts/, beside this file
import torch
import torch.nn.functional as F
import torchvision
from pytorch_fid import inception as fid

SEED = 0x1CE7_2015
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "KallimaEvalTests", "Fixtures")



def uniform(name, count, low, high):
    """float32 values of the shared generator (Scripts/fixture_generator.py) at SEED."""
    return fixture_generator.uniform(SEED, name, count, low, high)


def ranges(name, shape):
    if name.endswith(".conv.weight"):
        a = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
        return -a, a
    if name.endswith(".bn.weight") or name.endswith(".bn.running_var"):
        return 0.5, 1.5
    if name.endswith(".bn.bias") or name.endswith(".bn.running_mean") or name == "fc.bias":
        return -0.1, 0.1
    if name == "fc.weight":
        a = math.sqrt(3.0 / shape[1])
        return -a, a
    raise ValueError(f"no generator range for {name}")


def generated(name, shape, low=None, high=None):
    if low is None:
        low, high = ranges(name, shape)
    n = int(np.prod(shape))
    return torch.from_numpy(uniform(name, n, low, high).reshape(shape))


def build_fid_inception():
    """fid_inception_v3() without the download: the same module tree, our weights."""
    net = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    state = net.state_dict()
    loaded = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            loaded[k] = v
        else:
            loaded[k] = generated(k, list(v.shape))
    net.load_state_dict(loaded)
    return net.double().eval()


def r9(v):
    """A float rounded to 9 significant digits (keeps the fixtures small)."""
    return float(f"{float(v):.9g}")


def stats(y):
    y = y.detach().double()
    n, c, h, w = y.shape
    flat = y.reshape(-1)
    rng = np.random.default_rng(7)
    idx = np.sort(rng.choice(flat.numel(), size=min(256, flat.numel()), replace=False))
    return {
        "shape": list(y.shape),
        "channel_mean": [r9(v) for v in y.mean(dim=(0, 2, 3)).tolist()],
        "position_mean": [r9(v) for v in y.mean(dim=1).reshape(-1).tolist()],
        "sample_index": [int(i) for i in idx],
        "sample_value": [r9(flat[int(i)]) for i in idx],
        "max_abs": float(flat.abs().max()),
        "rms": float(flat.pow(2).mean().sqrt()),
    }


def stem(net, x):
    for m in (net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3):
        x = m(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    return F.max_pool2d(x, kernel_size=3, stride=2)


# (case name, block in Kallima's InceptionV3.blocks, input shape). Non-square inputs catch
# height/width swaps; the stem runs a batch of 2 (batched conv path).
BLOCK_CASES = [
    ("stem", "stem", [2, 3, 35, 39]),
    ("Mixed_5b", "Mixed_5b", [1, 192, 7, 6]),
    ("Mixed_6a", "Mixed_6a", [1, 288, 9, 8]),
    ("Mixed_6b", "Mixed_6b", [1, 768, 7, 5]),
    ("Mixed_7a", "Mixed_7a", [1, 768, 9, 7]),
    ("Mixed_7b", "Mixed_7b", [1, 1280, 5, 4]),
    ("Mixed_7c", "Mixed_7c", [1, 2048, 5, 4]),
]

# The whole network: 2 images 3x16x16 in [0, 1], resized to 299 inside, as pytorch-fid does.
NETWORK_INPUT = [2, 3, 16, 16]


def main():
    torch.set_grad_enabled(False)
    net = build_fid_inception()

    blocks = {}
    for case, block, shape in BLOCK_CASES:
        x = generated(f"input:{case}", shape, -0.5, 1.0)
        y = stem(net, x) if block == "stem" else getattr(net, block)(x)
        blocks[case] = {"block": block, "input_shape": shape, "output": stats(y)}
        print(f"{case:9s} {block:9s} {shape} -> {list(y.shape)} rms {blocks[case]['output']['rms']:.4g}"
              f" max {blocks[case]['output']['max_abs']:.4g}")

    # pytorch-fid's wrapper around our module tree (its fid_inception_v3 would download).
    original = fid.fid_inception_v3
    fid.fid_inception_v3 = lambda: net
    try:
        wrapper = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).double().eval()
    finally:
        fid.fid_inception_v3 = original
    images = generated("images", NETWORK_INPUT, 0.0, 1.0)
    # Full-size intermediate maps localise errors that the global pool would average away:
    # pytorch-fid's block 1 (the stem, 35x35) and block 2 (Mixed_6e, 17x17) outputs, and
    # Mixed_7c's 8x8 output through a hook.
    wrapper.output_blocks = [1, 2, 3]
    seen = {}
    hook = net.Mixed_7c.register_forward_hook(lambda m, i, o: seen.__setitem__("Mixed_7c", o))
    stem_out, mixed6e, pool3 = wrapper(images)
    hook.remove()
    taps = {}
    for name, y in (("stem", stem_out), ("Mixed_6e", mixed6e), ("Mixed_7c", seen["Mixed_7c"])):
        s = stats(y)
        taps[name] = {k: s[k] for k in ("shape", "position_mean", "sample_index", "sample_value")}
        print(f"  {name} {s['shape']} rms {s['rms']:.4g}")
    features = pool3.reshape(pool3.shape[0], -1)
    logits = net.fc(torch.flatten(pool3, 1))
    print(f"network {NETWORK_INPUT} -> features {list(features.shape)} rms {features.pow(2).mean().sqrt():.4g}"
          f" logits rms {logits.pow(2).mean().sqrt():.4g}")

    # The generator's first values for two tensors, bit for bit (float32 values as float64):
    # the Swift port is checked against these before anything else.
    checks = []
    for name, shape in (("Conv2d_1a_3x3.conv.weight", [32, 3, 3, 3]), ("Mixed_7c.branch_pool.bn.running_var", [192])):
        low, high = ranges(name, shape)
        checks.append({"name": name, "low": low, "high": high, "values": uniform(name, 8, low, high).tolist()})

    names = [[k, list(v.shape)] for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    meta = {
        "generator": "Scripts/make_inception_fixtures.py",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "pytorch_fid_version": getattr(__import__("pytorch_fid"), "__version__", "unknown"),
        "seed": SEED,
    }
    with open(os.path.join(FIXTURES, "inception_blocks.json"), "w") as f:
        json.dump({**meta, "cases": blocks}, f, separators=(",", ":"))
    with open(os.path.join(FIXTURES, "inception_network.json"), "w") as f:
        json.dump({
            **meta,
            "input_shape": NETWORK_INPUT,
            "features": {"shape": list(features.shape), "data": [r9(v) for v in features.reshape(-1).tolist()]},
            "logits": {"shape": list(logits.shape), "data": [r9(v) for v in logits.reshape(-1).tolist()]},
            "taps": taps,
            "generator_check": checks,
            "state_dict": names,
        }, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
