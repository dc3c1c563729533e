#!/opt/torchenv/bin/python
"""SNGAN's ResNet G and D at 32x32 (Kallima's `ResNetGAN`, torch_mimicry's module layout) in
PyTorch float64, as a fixture for Tests/KallimaGANTests/ResNetFixtureTests.swift.

    /opt/torchenv/bin/python Scripts/make_resnet_fixture.py

Writes Tests/KallimaGANTests/Fixtures/resnet32.json. The build and tests never run it.

Networks (nz 8, ngf = ndf = 8, 3x32x32; the module names are the state-dict names):
  G: l1 = Linear(nz, 16·ngf) -> view [N, ngf, 4, 4] -> block2, block3, block4 = GBlock(ngf, ngf)
     -> b5 = BatchNorm2d(ngf) -> ReLU -> c5 = Conv2d(ngf, 3, 3, 1, 1) -> tanh.
     GBlock(i, o): h = c2(relu(b2(c1(up(relu(b1(x))))))); shortcut c_sc(up(x)) (1x1);
     up = nearest x2; c1, c2 3x3 padding 1; out = h + shortcut.
  D: block1 = DBlockOptimized(3, ndf): h = pool(c2(relu(c1(x)))), shortcut c_sc(pool(x));
     block2 = DBlock(ndf, ndf, down): h = pool(c2(relu(c1(relu(x))))), shortcut pool(c_sc(x));
     block3, block4 = DBlock(ndf, ndf, no down): x + c2(relu(c1(relu(x)))) (no c_sc);
     then ReLU, sum over H and W, l5 = Linear(ndf, 1). pool = AvgPool2d(2).
  Batch norm in train mode (batch statistics, biased variance, eps 1e-5; running stats
  updated with momentum 0.1 and the unbiased variance). No spectral norm here (it is tested
  on its own); D gets no batch norm (SNGAN).

Values: weights drawn by torch (float32), conv/linear weights rounded to float16, biases and
BN parameters to float32, so Kallima's float32 tensors hold them exactly; z ~ N(0,1) and
x ~ U[-1,1) as float16. Stored: every initial tensor, z, x, and in float64: G(z), G's
running statistics after the forward, D(x), and dΣ(r·D(x))/dx and dΣ(r·D(x))/dθ for a fixed
r, computed in float64 from the stored values.
"""
import base64
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20261128)
NZ, NGF, NDF, N = 8, 8, 8, 2
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "KallimaGANTests", "Fixtures", "resnet32.json")


class GBlock(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.b1, self.c1 = nn.BatchNorm2d(i), nn.Conv2d(i, o, 3, 1, 1)
        self.b2, self.c2 = nn.BatchNorm2d(o), nn.Conv2d(o, o, 3, 1, 1)
        self.c_sc = nn.Conv2d(i, o, 1)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.b2(self.c1(up(F.relu(self.b1(x)))))))
        return h + self.c_sc(up(x))


class DBlock(nn.Module):
    def __init__(self, i, o, down, optimized=False):
        super().__init__()
        self.down, self.optimized = down, optimized
        self.c1, self.c2 = nn.Conv2d(i, o, 3, 1, 1), nn.Conv2d(o, o, 3, 1, 1)
        self.learnable_sc = i != o or down
        if self.learnable_sc:
            self.c_sc = nn.Conv2d(i, o, 1)

    def forward(self, x):
        if self.optimized:
            h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
            return h + self.c_sc(F.avg_pool2d(x, 2))
        h = self.c2(F.relu(self.c1(F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if not self.learnable_sc:
            return h + x
        s = self.c_sc(x)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NZ, 16 * NGF)
        self.block2, self.block3, self.block4 = GBlock(NGF, NGF), GBlock(NGF, NGF), GBlock(NGF, NGF)
        self.b5, self.c5 = nn.BatchNorm2d(NGF), nn.Conv2d(NGF, 3, 3, 1, 1)

    def forward(self, z):
        h = self.l1(z).view(-1, NGF, 4, 4)
        h = self.block4(self.block3(self.block2(h)))
        return torch.tanh(self.c5(F.relu(self.b5(h))))


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = DBlock(3, NDF, True, optimized=True)
        self.block2 = DBlock(NDF, NDF, True)
        self.block3, self.block4 = DBlock(NDF, NDF, False), DBlock(NDF, NDF, False)
        self.l5 = nn.Linear(NDF, 1)

    def forward(self, x):
        h = self.block4(self.block3(self.block2(self.block1(x))))
        return self.l5(F.relu(h).sum(dim=(2, 3)))


def rounded(t, dtype):
    return torch.from_numpy(t.detach().numpy().astype(dtype).astype(np.float64))


def enc(t, dtype):
    a = t.detach().double().contiguous().numpy().reshape(-1).astype(dtype)
    return {"shape": list(t.shape), "dtype": {np.float16: "f16", np.float32: "f32", np.float64: "f64"}[dtype],
            "base64": base64.b64encode(a.astype(np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")}


def prepare(net):
    """Randomises BN affine parameters (PyTorch starts them at 1/0), rounds every tensor to its
    stored precision and moves the network to float64; returns {name: (tensor, dtype)}."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    state = {}
    for name, t in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        dtype = np.float16 if t.dim() >= 2 else np.float32
        state[name] = (rounded(t.float(), dtype), dtype)
    net.double()
    net.load_state_dict({k: v for k, (v, _) in state.items()}, strict=False)
    return state


g, d = G(), D()
g_state, d_state = prepare(g), prepare(d)
z = rounded(torch.randn(N, NZ), np.float16)
x = rounded(torch.rand(N, 3, 32, 32) * 2 - 1, np.float16)
r = rounded(torch.rand(N, 1) * 2 - 1, np.float16)

g.train()
image = g(z)
d.train()
xg = x.clone().requires_grad_(True)
score = d(xg)
objective = (score * r).sum()
grads = torch.autograd.grad(objective, [xg] + list(d.parameters()))
names = [n for n, _ in d.named_parameters()]

fixture = {
    "torch_version": torch.__version__,
    "config": {"nz": NZ, "ngf": NGF, "ndf": NDF, "batch": N, "image_size": 32},
    "G": {k: enc(v, dt) for k, (v, dt) in g_state.items()},
    "D": {k: enc(v, dt) for k, (v, dt) in d_state.items()},
    "z": enc(z, np.float16), "x": enc(x, np.float16), "r": enc(r, np.float16),
    "G_out": enc(image, np.float64),
    "G_running": {k: enc(v, np.float64) for k, v in g.state_dict().items() if "running" in k},
    "D_out": enc(score, np.float64),
    "dx": enc(grads[0], np.float64),
    "dD": {n: enc(t, np.float64) for n, t in zip(names, grads[1:])},
}
with open(OUT, "w") as f:
    json.dump(fixture, f)
print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes; |G(z)| max {image.abs().max():.3f}, D(x) {score.view(-1).tolist()}")
