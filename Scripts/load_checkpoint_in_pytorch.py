#!/usr/bin/env python3
"""Load a Kallima checkpoint into PyTorch's DCGAN generator and draw a grid of samples.

A Kallima checkpoint is a safetensors file whose tensor names follow PyTorch's DCGAN
example (https://github.com/pytorch/examples/tree/main/dcgan), prefixed by network:

    generator.main.0.weight          ConvTranspose2d weight [nz, ngf*2^(k-1), 4, 4]
    generator.main.1.weight / .bias / .running_mean / .running_var   BatchNorm2d
    ...
    discriminator.main.0.weight      Conv2d weight [ndf, channels, 4, 4]
    ...

and whose metadata key "config" holds JSON {"nz", "ngf", "ndf", "channels", "imageSize"}.
The generator is the example's nn.Sequential, generalised from 64x64 to any image side
4*2^k (k >= 1): ConvTranspose2d(bias=False) / BatchNorm2d / ReLU triples, Tanh last.

Usage:
    load_checkpoint_in_pytorch.py CHECKPOINT [--out samples.png] [--count 16] [--seed 0]
    load_checkpoint_in_pytorch.py --self-test

Needs torch and safetensors (e.g. /opt/torchenv/bin/python). The picture is written with
PIL when it is installed, otherwise with a small PNG encoder built from the standard
library; an output path ending in .npy writes the raw grid (float32 HWC in [0, 1]) instead.
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile
import zlib

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file


# ---------------------------------------------------------------------------------------
# Models (PyTorch's DCGAN example, any image side 4*2^k)


def stages_for(image_size):
    """Number of stride-2 stages between 4x4 and the image; raises for a side not 4*2^k."""
    stages, side = 0, 4
    while side < image_size:
        side, stages = side * 2, stages + 1
    if stages < 1 or side != image_size:
        raise ValueError(f"imageSize {image_size} must be 4*2^k with k >= 1 (e.g. 32, 64)")
    return stages


class Generator(nn.Module):
    """z [N, nz, 1, 1] -> image [N, channels, imageSize, imageSize] in [-1, 1]."""

    def __init__(self, nz=100, ngf=64, channels=3, image_size=64):
        super().__init__()
        stages = stages_for(image_size)
        layers = []
        in_c = nz
        for stage in range(stages + 1):
            last = stage == stages
            out_c = channels if last else ngf << (stages - 1 - stage)
            stride, padding = (1, 0) if stage == 0 else (2, 1)
            layers.append(nn.ConvTranspose2d(in_c, out_c, 4, stride, padding, bias=False))
            if last:
                layers.append(nn.Tanh())
            else:
                layers += [nn.BatchNorm2d(out_c), nn.ReLU(True)]
            in_c = out_c
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    """image -> probability [N, 1, 1, 1]; same indices as the example (Sigmoid last)."""

    def __init__(self, ndf=64, channels=3, image_size=64):
        super().__init__()
        stages = stages_for(image_size)
        layers = []
        in_c = channels
        for stage in range(stages):
            out_c = ndf << stage
            layers.append(nn.Conv2d(in_c, out_c, 4, 2, 1, bias=False))
            if stage > 0:
                layers.append(nn.BatchNorm2d(out_c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_c = out_c
        layers += [nn.Conv2d(in_c, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


# ---------------------------------------------------------------------------------------
# Loading


def read_config(path, tensors):
    """The "config" metadata as a dict; inferred from the generator's shapes when absent."""
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    if "config" in metadata:
        config = json.loads(metadata["config"])
        missing = [k for k in ("nz", "ngf", "ndf", "channels", "imageSize") if k not in config]
        if missing:
            raise ValueError(f"{path}: metadata 'config' lacks {missing}; it has {sorted(config)}")
        return config
    # No config: read it off the transposed-conv weights [in, out, 4, 4].
    convs = sorted(
        (int(name.split(".")[2]), t.shape)
        for name, t in tensors.items()
        if name.startswith("generator.main.") and name.endswith(".weight") and t.dim() == 4
    )
    if not convs:
        raise ValueError(f"{path}: no metadata 'config' and no generator.main.N.weight tensors to infer it from")
    disc = [t.shape for n, t in tensors.items() if n == "discriminator.main.0.weight"]
    config = {
        "nz": convs[0][1][0],
        "ngf": convs[-1][1][0],
        "channels": convs[-1][1][1],
        "imageSize": 4 << (len(convs) - 1),
        "ndf": disc[0][0] if disc else 64,
    }
    print(f"{path}: no 'config' metadata; inferred {config} from tensor shapes", file=sys.stderr)
    return config


def sub_state_dict(tensors, prefix, module):
    """The tensors under `prefix`, renamed and typed for `module`'s state dict.

    Kallima stores only float tensors; BatchNorm's num_batches_tracked (an int64 counter
    PyTorch keeps but DCGAN never uses, since momentum is set) is filled with 0 when absent
    and converted to int64 when present.
    """
    state = {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}
    expected = module.state_dict()
    for name, reference in expected.items():
        if name.endswith("num_batches_tracked"):
            state[name] = state[name].to(torch.long).reshape(()) if name in state else torch.zeros((), dtype=torch.long)
        elif name in state:
            state[name] = state[name].to(reference.dtype)
    return state


def check_architecture(path):
    """This script rebuilds DCGAN's networks; other architectures get a clear error."""
    with safe_open(path, framework="pt") as f:
        architecture = (f.metadata() or {}).get("architecture", "dcgan")
    if architecture != "dcgan":
        raise ValueError(
            f"{path}: a '{architecture}' checkpoint; this script rebuilds DCGAN only "
            "(Scripts/make_resnet_fixture.py has the ResNet G and D with the same state-dict names)")


def load_generator(path, map_location="cpu", ema=True):
    """(Generator loaded strictly from the checkpoint's generator.* tensors, config); the
    EMA of G's weights (generator_ema.*) when the run kept one and `ema` is set."""
    check_architecture(path)
    tensors = load_file(path, device=map_location)
    config = read_config(path, tensors)
    generator = Generator(config["nz"], config["ngf"], config["channels"], config["imageSize"])
    prefix = "generator_ema." if ema and any(n.startswith("generator_ema.") for n in tensors) else "generator."
    try:
        generator.load_state_dict(sub_state_dict(tensors, prefix, generator), strict=True)
    except RuntimeError as error:
        raise RuntimeError(f"{path}: generator tensors do not match config {config}:\n{error}") from None
    return generator.to(map_location), config


def load_discriminator(path, map_location="cpu"):
    """(Discriminator loaded strictly from the discriminator.* tensors, config)."""
    tensors = load_file(path, device=map_location)
    config = read_config(path, tensors)
    discriminator = Discriminator(config["ndf"], config["channels"], config["imageSize"])
    try:
        discriminator.load_state_dict(sub_state_dict(tensors, "discriminator.", discriminator), strict=True)
    except RuntimeError as error:
        raise RuntimeError(f"{path}: discriminator tensors do not match config {config}:\n{error}") from None
    return discriminator.to(map_location), config


# ---------------------------------------------------------------------------------------
# Sampling and saving


def sample_grid(generator, nz, count=16, seed=0, padding=2):
    """Generate `count` images from seeded z's (eval mode: running statistics) and tile
    them like torchvision.utils.make_grid; returns float32 [H, W, C] in [0, 1]."""
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.randn(count, nz, 1, 1, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        images = generator(z).float().cpu()
    images = ((images + 1) / 2).clamp(0, 1)
    n, c, h, w = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.zeros(c, rows * (h + padding) + padding, columns * (w + padding) + padding)
    for i in range(n):
        y = padding + (i // columns) * (h + padding)
        x = padding + (i % columns) * (w + padding)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid.permute(1, 2, 0).contiguous()


def png_bytes(pixels):
    """A PNG of uint8 pixels [H, W, C] (C = 1 or 3), made with zlib only."""
    h, w, c = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    raw = bytearray()
    data = pixels.numpy().tobytes() if hasattr(pixels, "numpy") else bytes(pixels)
    stride = w * c
    for y in range(h):
        raw.append(0)  # filter: none
        raw += data[y * stride:(y + 1) * stride]

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def save_grid(grid, out):
    """Writes the grid [H, W, C] in [0, 1]: .npy raw, otherwise PNG (PIL if present).
    Returns the path written."""
    if out.endswith(".npy"):
        import numpy as np
        np.save(out, grid.numpy().astype("float32"))
        return out
    pixels = (grid * 255).round().to(torch.uint8)
    try:
        from PIL import Image
        array = pixels.numpy()
        Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(out)
    except ImportError:
        with open(out, "wb") as f:
            f.write(png_bytes(pixels))
    return out


# ---------------------------------------------------------------------------------------
# Self-test: write checkpoints from Python with Kallima's naming and load them back


def write_test_checkpoint(path, config, drop_num_batches_tracked=True, seed=0):
    """A checkpoint like Kallima's: random values, prefixed names, config metadata, F32 only."""
    torch.manual_seed(seed)
    generator = Generator(config["nz"], config["ngf"], config["channels"], config["imageSize"])
    discriminator = Discriminator(config["ndf"], config["channels"], config["imageSize"])
    tensors = {}
    for prefix, module in (("generator.", generator), ("discriminator.", discriminator)):
        for name, t in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                if drop_num_batches_tracked:
                    continue
                t = torch.tensor(7.0)
            elif name.endswith("running_var"):
                t = torch.rand_like(t) + 0.5
            else:
                t = torch.randn_like(t)
            tensors[prefix + name] = t.float().contiguous()
    save_file(tensors, path, metadata={"config": json.dumps(config), "step": "123"})
    return tensors


def self_test():
    failures = 0

    def check(condition, message):
        nonlocal failures
        print(("ok    " if condition else "FAIL  ") + message)
        failures += 0 if condition else 1

    # The standard 64x64 generator has the example's exact layout.
    g = Generator(100, 64, 3, 64)
    kinds = [type(m).__name__ for m in g.main]
    check(kinds == ["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 4 + ["ConvTranspose2d", "Tanh"], f"64x64 layout {kinds}")
    shapes = [tuple(m.weight.shape) for m in g.main if isinstance(m, nn.ConvTranspose2d)]
    check(shapes == [(100, 512, 4, 4), (512, 256, 4, 4), (256, 128, 4, 4), (128, 64, 4, 4), (64, 3, 4, 4)], f"64x64 weights {shapes}")
    check(all(m.bias is None for m in g.main if isinstance(m, nn.ConvTranspose2d)), "no conv bias")
    d = Discriminator(64, 3, 64)
    dkinds = [type(m).__name__ for m in d.main]
    check(dkinds == ["Conv2d", "LeakyReLU"] + ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 3 + ["Conv2d", "Sigmoid"], f"64x64 D layout {dkinds}")
    for size in (8, 16, 32, 64, 128):
        out = Generator(4, 2, 1, size).eval()(torch.zeros(1, 4, 1, 1))
        check(tuple(out.shape) == (1, 1, size, size), f"imageSize {size} gives {tuple(out.shape)}")
        prob = Discriminator(2, 1, size).eval()(torch.zeros(1, 1, size, size))
        check(tuple(prob.shape) == (1, 1, 1, 1), f"D for imageSize {size} gives {tuple(prob.shape)}")
    for bad in (4, 48, 100):
        try:
            Generator(4, 2, 1, bad)
            check(False, f"imageSize {bad} rejected")
        except ValueError:
            check(True, f"imageSize {bad} rejected")

    with tempfile.TemporaryDirectory() as tmp:
        for config, drop in (
            ({"nz": 16, "ngf": 8, "ndf": 8, "channels": 3, "imageSize": 32}, True),
            ({"nz": 100, "ngf": 64, "ndf": 64, "channels": 3, "imageSize": 64}, False),
            ({"nz": 10, "ngf": 4, "ndf": 4, "channels": 1, "imageSize": 16}, True),
        ):
            path = os.path.join(tmp, f"ckpt{config['imageSize']}.safetensors")
            written = write_test_checkpoint(path, config, drop_num_batches_tracked=drop)
            generator, loaded_config = load_generator(path)
            check(loaded_config == config, f"config {loaded_config}")
            state = generator.state_dict()
            same = all(torch.equal(state[n[len("generator."):]], t) for n, t in written.items()
                       if n.startswith("generator.") and not n.endswith("num_batches_tracked"))
            check(same, f"imageSize {config['imageSize']}: every generator tensor loaded exactly "
                        f"(num_batches_tracked {'absent' if drop else 'present'})")
            discriminator, _ = load_discriminator(path)
            dstate = discriminator.state_dict()
            check(all(torch.equal(dstate[n[len("discriminator."):]], t) for n, t in written.items()
                      if n.startswith("discriminator.") and not n.endswith("num_batches_tracked")),
                  f"imageSize {config['imageSize']}: every discriminator tensor loaded exactly")
            grid = sample_grid(generator, config["nz"], count=6, seed=1)
            side = config["imageSize"]
            check(tuple(grid.shape) == (2 * (side + 2) + 2, 3 * (side + 2) + 2, config["channels"]), f"grid {tuple(grid.shape)}")
            check(torch.equal(grid, sample_grid(generator, config["nz"], count=6, seed=1)), "sampling is reproducible")
            png = save_grid(grid, os.path.join(tmp, "grid.png"))
            with open(png, "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"PNG written ({os.path.getsize(png)} bytes)")
            npy = save_grid(grid, os.path.join(tmp, "grid.npy"))
            import numpy as np
            check(np.allclose(np.load(npy), grid.numpy()), ".npy written")

        # Without config metadata the shapes give it away.
        config = {"nz": 16, "ngf": 8, "ndf": 8, "channels": 3, "imageSize": 32}
        path = os.path.join(tmp, "noconfig.safetensors")
        tensors = write_test_checkpoint(path, config)
        save_file(tensors, path)
        _, inferred = load_generator(path)
        check(inferred == config, f"config inferred from shapes {inferred}")

        # A missing or wrongly shaped tensor fails the strict load with a clear message.
        broken = dict(tensors)
        del broken["generator.main.1.running_mean"]
        save_file(broken, path, metadata={"config": json.dumps(config)})
        try:
            load_generator(path)
            check(False, "missing tensor rejected")
        except RuntimeError as error:
            check("running_mean" in str(error), "missing tensor rejected, named in the error")
        save_file(tensors, path, metadata={"config": json.dumps(dict(config, ngf=16))})
        try:
            load_generator(path)
            check(False, "config/shape mismatch rejected")
        except RuntimeError as error:
            check("size mismatch" in str(error), "config/shape mismatch rejected")

    print("self-test " + ("passed" if failures == 0 else f"FAILED ({failures})"))
    return 0 if failures == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="Kallima checkpoint (.safetensors)")
    parser.add_argument("--out", default="samples.png", help="output image (.png) or raw grid (.npy)")
    parser.add_argument("--count", type=int, default=16, help="number of samples in the grid")
    parser.add_argument("--seed", type=int, default=0, help="seed for the z's")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--self-test", action="store_true", help="check this script against checkpoints it writes")
    parser.add_argument("--no-ema", action="store_true", help="use G's own weights even when the checkpoint has an EMA")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.checkpoint:
        parser.error("give a checkpoint path (or --self-test)")
    generator, config = load_generator(args.checkpoint, map_location=args.device, ema=not args.no_ema)
    grid = sample_grid(generator, config["nz"], count=args.count, seed=args.seed)
    out = save_grid(grid, args.out)
    print(f"loaded {args.checkpoint} ({config}); wrote {args.count} samples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
