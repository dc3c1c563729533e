#!/opt/torchenv/bin/python
"""One DCGAN training iteration in PyTorch, as a fixture for Kallima's GAN step.

Writes Tests/KallimaGANTests/Fixtures/dcgan_step.json, which
Tests/KallimaGANTests/PyTorchStepTests.swift checks on both backends (CPU and OpenCL).
The Swift build and tests never run this script; rerun it by hand only when the step or
the fixture changes:

    /opt/torchenv/bin/python Scripts/make_dcgan_step_fixture.py

The networks are Kallima's narrow test DCGAN, DCGANConfig(nz: 16, ngf: 8, ndf: 8,
channels: 3, imageSize: 32), with the same nn.Sequential indices (so the state-dict
names match Kallima's parameter stores): G = ConvTranspose2d/BatchNorm2d/ReLU x3, then
ConvTranspose2d/Tanh; D = Conv2d/LeakyReLU(0.2), then Conv2d/BatchNorm2d/LeakyReLU x2,
then Conv2d(k4, s1, p0) producing logits (no sigmoid: the loss is BCE-with-logits). No
conv bias; BatchNorm momentum 0.1, eps 1e-5, in train mode throughout.

The iteration is Kallima's GANTrainer step (n_critic 1), batch 4, Adam(lr 2e-4,
betas (0.5, 0.999), eps 1e-8) per network:
  D step: fake = G(zD) (train mode: G's running statistics update);
          dReal = D(x); dFake = D(fake.detach())   (two train-mode forwards, real first);
          lossD = BCEWithLogits(dReal, 1) + BCEWithLogits(dFake, 0)   (mean reduction);
          optD.zero_grad(); lossD.backward(); optD.step()
          D(x) = mean sigmoid(dReal), D(G(z)) = mean sigmoid(dFake)
  G step: fake2 = G(zG); dFake2 = D(fake2)   (D's updated weights; its stats update again)
          lossG = BCEWithLogits(dFake2, 1); optG.zero_grad(); lossG.backward(); optG.step()

Precision: the inputs (initial weights, x, zD, zG) are drawn by torch in float32 under a
fixed seed and rounded once to the precision they are stored in (see Encoding), so the
fixture holds exactly the values the Swift side writes into its float32 tensors; the
iteration itself then runs in float64 from those exact values, so the references carry
no float32 rounding of their own.

Encoding (to keep the fixture under 400 KB): every tensor is
{"shape": [...], "dtype": "f16" | "f32" | "f64", "base64": little-endian bytes}, plus
"delta_from_initial": true where the stored values are (final − initial) of that
parameter, computed in float64 and then rounded (the expected final value is
initial + delta). Conv weights, x and z are float16 values (exact in float32); batch
norm tensors are float32. Final trainable parameters are stored as float16 deltas
(|delta| <= lr, so the rounding is below 1.2e-7, a hundredth of the test's tolerance),
running statistics in float64, exp_avg in float32. exp_avg_sq is not stored: after
Adam's first step PyTorch has exp_avg = (1 − beta1)·g and exp_avg_sq = (1 − beta2)·g²,
so exp_avg_sq = (1 − beta2)/(1 − beta1)² · exp_avg²; the script asserts this identity on
torch's own optimiser state before writing, and the test derives exp_avg_sq from the
stored exp_avg. (`--full` stores exp_avg_sq too, about 160 KB more.)

Layout:
    {"generator", "torch_version", "seed", "precision", "note",
     "config": {nz, ngf, ndf, channels, image_size, batch, lr, beta1, beta2, eps,
                bn_momentum, bn_eps},
     "statistics": {"lossD", "lossG", "dReal", "dFake"},
     "inputs": {"x", "zD", "zG"},
     "G": {"initial": {name: tensor}, "final": {name: tensor}},   and the same for "D"}
"initial" holds every parameter and buffer (the state_dict); "final" holds every
parameter and buffer after the iteration and, per trainable parameter, NAME.exp_avg
(and NAME.exp_avg_sq with --full).
"""

import argparse
import base64
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240612
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "KallimaGANTests", "Fixtures",
    "dcgan_step.json")

NZ, NGF, NDF, CHANNELS, IMAGE_SIZE = 16, 8, 8, 3, 32
BATCH = 4
LR, BETAS, ADAM_EPS = 2e-4, (0.5, 0.999), 1e-8
BN_MOMENTUM, BN_EPS = 0.1, 1e-5


def stages():
    s, side = 0, 4
    while side < IMAGE_SIZE:
        side *= 2
        s += 1
    return s


def generator():
    """Kallima's DCGAN.generator, layer for layer (same indices)."""
    layers, in_c, k = [], NZ, stages()
    for stage in range(k + 1):
        last = stage == k
        out_c = CHANNELS if last else NGF << (k - 1 - stage)
        stride, padding = (1, 0) if stage == 0 else (2, 1)
        layers.append(nn.ConvTranspose2d(in_c, out_c, 4, stride, padding, bias=False))
        if last:
            layers.append(nn.Tanh())
        else:
            layers += [nn.BatchNorm2d(out_c, eps=BN_EPS, momentum=BN_MOMENTUM), nn.ReLU()]
        in_c = out_c
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = generator()

    def forward(self, z):
        return self.main(z)


def discriminator():
    """Kallima's DCGAN.discriminator, layer for layer (same indices), logits out."""
    layers, in_c = [], CHANNELS
    for stage in range(stages()):
        out_c = NDF << stage
        layers.append(nn.Conv2d(in_c, out_c, 4, 2, 1, bias=False))
        if stage > 0:
            layers.append(nn.BatchNorm2d(out_c, eps=BN_EPS, momentum=BN_MOMENTUM))
        layers.append(nn.LeakyReLU(0.2))
        in_c = out_c
    layers.append(nn.Conv2d(in_c, 1, 4, 1, 0, bias=False))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = discriminator()

    def forward(self, x):
        return self.main(x)


def weights_init(m):
    """Radford et al.: conv N(0, 0.02), batch-norm scale N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# MARK: storage precision and encoding

DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


def input_dtype(name, t):
    """Conv weights, x and z are stored as float16 values; batch-norm tensors as float32."""
    return "f16" if t.dim() == 4 else "f32"


def round_to(t, dtype):
    """The float64 tensor holding exactly the values `t` has once stored as `dtype`."""
    return torch.from_numpy(t.detach().double().numpy().astype(DTYPES[dtype]).astype(np.float64))


def enc(t, dtype, **extra):
    a = t.detach().double().contiguous().numpy().reshape(-1).astype(DTYPES[dtype])
    assert np.all(np.isfinite(a)), "non-finite value in fixture tensor"
    d = {"shape": list(t.shape), "dtype": dtype}
    d.update(extra)
    d["base64"] = base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")
    return d


# MARK: the iteration


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="also store exp_avg_sq (bigger file)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    # Draw everything in float32 (torch's init), then round to the stored precision.
    nets = {"G": Generator(), "D": Discriminator()}
    for net in nets.values():
        net.apply(weights_init)
    x = torch.rand(BATCH, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float32) * 2 - 1
    zD = torch.randn(BATCH, NZ, 1, 1, dtype=torch.float32)
    zG = torch.randn(BATCH, NZ, 1, 1, dtype=torch.float32)
    x, zD, zG = (round_to(t, "f16") for t in (x, zD, zG))

    initial = {}
    for key, net in nets.items():
        net.double()
        sd = net.state_dict()
        initial[key] = {}
        for name, t in sd.items():
            if name.endswith("num_batches_tracked"):
                continue  # not a Kallima tensor (momentum is fixed, never cumulative)
            dtype = input_dtype(name, t)
            with torch.no_grad():
                t.copy_(round_to(t, dtype))
            initial[key][name] = (t.detach().clone(), dtype)
        for name, t in net.state_dict().items():  # the live module holds the stored values
            if name in initial[key]:
                assert torch.equal(t, initial[key][name][0]), name
    G, D = nets["G"], nets["D"]
    G.train()
    D.train()
    optD = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    optG = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    bce = nn.BCEWithLogitsLoss()

    # D step.
    fake = G(zD)
    d_real = D(x)
    d_fake = D(fake.detach())
    loss_d = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
    optD.zero_grad()
    loss_d.backward()
    optD.step()
    stat_real = torch.sigmoid(d_real).mean().item()
    stat_fake = torch.sigmoid(d_fake).mean().item()

    # G step.
    fake2 = G(zG)
    d_fake2 = D(fake2)
    loss_g = bce(d_fake2, torch.ones_like(d_fake2))
    optG.zero_grad()
    loss_g.backward()
    optG.step()

    assert d_real.shape == (BATCH, 1, 1, 1) and fake.shape == x.shape

    doc = {
        "generator": "Scripts/make_dcgan_step_fixture.py",
        "torch_version": torch.__version__,
        "seed": SEED,
        "precision": "float64 computation from inputs that are exact float32 (float16) values",
        "note": "see the script's docstring for the encoding",
        "config": {
            "nz": NZ, "ngf": NGF, "ndf": NDF, "channels": CHANNELS, "image_size": IMAGE_SIZE,
            "batch": BATCH, "lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "eps": ADAM_EPS,
            "bn_momentum": BN_MOMENTUM, "bn_eps": BN_EPS,
        },
        "statistics": {
            "lossD": loss_d.item(), "lossG": loss_g.item(), "dReal": stat_real, "dFake": stat_fake,
        },
        "inputs": {"x": enc(x, "f16"), "zD": enc(zD, "f16"), "zG": enc(zG, "f16")},
    }

    for key, net, opt in (("G", G, optG), ("D", D, optD)):
        params = dict(net.named_parameters())
        final = {}
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            t0, dtype0 = initial[key][name]
            if name in params:
                delta = t.detach() - t0
                # First Adam step: |delta| = lr·|g|/(|g| + eps) <= lr.
                assert delta.abs().max().item() <= LR * (1 + 1e-12), name
                final[name] = enc(delta, "f16", delta_from_initial=True)
                st = opt.state[params[name]]
                assert int(st["step"]) == 1, name
                m, v = st["exp_avg"], st["exp_avg_sq"]
                derived = (1 - BETAS[1]) / (1 - BETAS[0]) ** 2 * m * m
                assert torch.allclose(v, derived, rtol=1e-13, atol=0), name
                final[name + ".exp_avg"] = enc(m, "f32")
                if args.full:
                    final[name + ".exp_avg_sq"] = enc(v, "f32")
            else:
                final[name] = enc(t, "f64")  # running statistics (small)
        doc[key] = {
            "initial": {name: enc(t, dtype) for name, (t, dtype) in initial[key].items()},
            "final": final,
        }

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    s = doc["statistics"]
    print(
        f"wrote {os.path.normpath(args.out)} ({os.path.getsize(args.out)} bytes), torch {torch.__version__}\n"
        f"loss_D {s['lossD']:.6f} loss_G {s['lossG']:.6f} D(x) {s['dReal']:.6f} D(G(z)) {s['dFake']:.6f}")


if __name__ == "__main__":
    main()
