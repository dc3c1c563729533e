#!/opt/torchenv/bin/python
"""The PyTorch side of `kallima bench pix2pix` / `kallima bench cyclegan`: the same training
iteration (the reference networks of make_translation_network_fixtures.py, float32, batch 1,
Adam; pix2pix: unet_<size> with dropout, batch norm, basic D on 6 channels, vanilla GAN + 100·L1;
CycleGAN: two resnet_9blocks (256) or resnet_6blocks Gs, two basic Ds, instance norm, LSGAN,
cycle and identity losses, pools of 50), timed on the CPU with the threads given, after two
warm-up iterations. Only for side-by-side ratios in notes; nothing in the build or tests runs it.

    /opt/torchenv/bin/python Scripts/bench_translation_torch.py pix2pix --size 256 --steps 5 --threads 2
"""
import argparse
import os
import random
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_translation_network_fixtures as nets  # noqa: E402

torch.set_default_dtype(torch.float32)


class Pool:
    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def pix2pix(size, ngf, ndf):
    downs = {256: 8, 128: 7, 64: 6, 32: 5}[size]
    G, D = nets.UnetGenerator(3, 3, downs, ngf, "batch", True), nets.NLayerDiscriminator(6, ndf, 3, "batch")
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    a, b = torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1

    def step():
        fake = G(a)
        for p in D.parameters():
            p.requires_grad_(True)
        oD.zero_grad()
        pf = D(torch.cat([a, fake.detach()], 1))
        pr = D(torch.cat([a, b], 1))
        ((bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr))) * 0.5).backward()
        oD.step()
        for p in D.parameters():
            p.requires_grad_(False)
        oG.zero_grad()
        p = D(torch.cat([a, fake], 1))
        (bce(p, torch.ones_like(p)) + 100 * nn.functional.l1_loss(fake, b)).backward()
        oG.step()
    return step


def cyclegan(size, ngf, ndf):
    blocks = 9 if size >= 256 else 6
    GA, GB = (nets.ResnetGenerator(3, 3, ngf, "instance", False, blocks) for _ in range(2))
    DA, DB = (nets.NLayerDiscriminator(3, ndf, 3, "instance") for _ in range(2))
    oG = torch.optim.Adam(list(GA.parameters()) + list(GB.parameters()), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(list(DA.parameters()) + list(DB.parameters()), lr=2e-4, betas=(0.5, 0.999))
    mse, l1 = nn.MSELoss(), nn.functional.l1_loss
    pa, pb = Pool(50), Pool(50)
    a, b = torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1

    def step():
        fb = GA(a)
        ra = GB(fb)
        fa = GB(b)
        rb = GA(fa)
        for d in (DA, DB):
            for p in d.parameters():
                p.requires_grad_(False)
        oG.zero_grad()
        loss = l1(GA(b), b) * 5 + l1(GB(a), a) * 5
        x, y = DA(fb), DB(fa)
        loss = loss + mse(x, torch.ones_like(x)) + mse(y, torch.ones_like(y)) + l1(ra, a) * 10 + l1(rb, b) * 10
        loss.backward()
        oG.step()
        for d in (DA, DB):
            for p in d.parameters():
                p.requires_grad_(True)
        oD.zero_grad()
        for D, real, fake in ((DA, b, pb.query(fb.detach())), (DB, a, pa.query(fa.detach()))):
            r, f = D(real), D(fake)
            ((mse(r, torch.ones_like(r)) + mse(f, torch.zeros_like(f))) * 0.5).backward()
        oD.step()
    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method", choices=["pix2pix", "cyclegan"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    step = (pix2pix if args.method == "pix2pix" else cyclegan)(args.size, args.ngf, args.ndf)
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = (time.perf_counter() - start) / args.steps
    print(f"PyTorch {torch.__version__} {args.method} {args.size}x{args.size} batch 1, {args.threads} threads: "
          f"{elapsed:.3f} s/iteration, {1 / elapsed:.2f} images/s")


if __name__ == "__main__":
    main()
