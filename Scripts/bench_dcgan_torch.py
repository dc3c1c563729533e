#!/opt/torchenv/bin/python
"""The PyTorch side of `kallima bench dcgan`: the same DCGAN training step (Radford et al.;
G: ConvTranspose k4 (s1 p0 first, then s2 p1) + BatchNorm + ReLU, tanh out; D: Conv k4 s2 p1
+ LeakyReLU(0.2), BatchNorm on all but the first, last Conv k4 s1 p0; no conv bias; BCE with
logits; Adam lr 2e-4, betas (0.5, 0.999)): one D update on a real and a fake batch, then one
G update, float32 on the CPU with the threads given, timed after two warm-up steps. The
median of `--repeats` runs of `--steps` steps. Only for side-by-side ratios in notes;
nothing in the build or tests runs it.

    /opt/torchenv/bin/python Scripts/bench_dcgan_torch.py --size 64 --width 64 --batch 64 --threads 2
    /opt/torchenv/bin/python Scripts/bench_dcgan_torch.py --size 32 --width 32 --channels 1 --threads 2
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def networks(size, width, channels, nz=100):
    stages = {32: 3, 64: 4, 128: 5}[size]
    g, inc = [], nz
    for stage in range(stages):
        outc = width << (stages - 1 - stage)
        g += [nn.ConvTranspose2d(inc, outc, 4, 1 if stage == 0 else 2, 0 if stage == 0 else 1, bias=False),
              nn.BatchNorm2d(outc), nn.ReLU(True)]
        inc = outc
    g += [nn.ConvTranspose2d(inc, channels, 4, 2, 1, bias=False), nn.Tanh()]
    d, inc = [], channels
    for stage in range(stages):
        outc = width << stage
        d.append(nn.Conv2d(inc, outc, 4, 2, 1, bias=False))
        if stage > 0:
            d.append(nn.BatchNorm2d(outc))
        d.append(nn.LeakyReLU(0.2, True))
        inc = outc
    d.append(nn.Conv2d(inc, 1, 4, 1, 0, bias=False))
    return nn.Sequential(*g), nn.Sequential(*d)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    G, D = networks(a.size, a.width, a.channels)
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(a.batch, a.channels, a.size, a.size) * 2 - 1
    ones, zeros = torch.ones(a.batch), torch.zeros(a.batch)

    def step():
        z = torch.randn(a.batch, 100, 1, 1)
        fake = G(z)
        oD.zero_grad()
        loss_d = bce(D(real).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        loss_g = bce(D(fake).view(-1), ones)
        loss_g.backward()
        oG.step()

    for _ in range(2):
        step()
    rates = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        rates.append(a.batch * a.steps / (time.perf_counter() - start))
    print(f"PyTorch {torch.__version__} DCGAN {a.size}x{a.size}x{a.channels}, width {a.width}, batch {a.batch}, "
          f"{a.threads} threads: {statistics.median(rates):.1f} img/s (median of {a.repeats} x {a.steps} steps; "
          f"{min(rates):.1f}-{max(rates):.1f})")


if __name__ == "__main__":
    main()
