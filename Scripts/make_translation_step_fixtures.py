#!/opt/torchenv/bin/python
"""Three training iterations of a narrow pix2pix and a narrow CycleGAN in PyTorch (float64),
as fixtures for Kallima's Pix2Pix / CycleGAN / TranslationTrainer
(Tests/KallimaGANTests/TranslationFixtureTests.swift). The build and tests never run it:

    /opt/torchenv/bin/python Scripts/make_translation_step_fixtures.py

Writes Tests/KallimaGANTests/Fixtures/translation/{pix2pix,cyclegan,stargan}.json (StarGAN: see
`stargan()` below). The networks are
the reference's (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py) as re-stated in
make_translation_network_fixtures.py (imported from beside this file); the iteration is
`optimize_parameters` of pix2pix_model.py and cycle_gan_model.py, written out below.

pix2pix: A 1x32x32 -> B 3x32x32, batch 2. G = UnetGenerator(1, 3, num_downs 5 (unet_32), ngf 2,
  batch norm, NO dropout: a fixture cannot share PyTorch's dropout draws), D =
  NLayerDiscriminator(4, ndf 2, n_layers 2, batch norm) on cat(A, B) -> [2, 1, 6, 6].
  Per iteration: fake = G(A); D loss ½(BCE(D(A, fake.detach()), 0) + BCE(D(A, B), 1)), D Adam
  step; G loss BCE(D(A, fake), 1) + 100·L1(fake, B) through the updated D, G Adam step.
CycleGAN: A and B 1x16x16, batch 2. G_A, G_B = ResnetGenerator(1, 1, ngf 2, batch norm, no
  dropout, n_blocks 2); D_A, D_B = NLayerDiscriminator(1, ndf 2, n_layers 2, batch norm). LSGAN
  loss (MSE to 1/0), λ_A = λ_B = 10, λ_identity 0.5, pools of 3 images. Per iteration: the
  forward (fake_B, rec_A, fake_A, rec_B), the G step (identity first, as backward_G), Adam on
  both G; then D_A on (B, pool_B(fake_B)), D_B on (A, pool_A(fake_A)), Adam on both D.
  Batch norm (rather than CycleGAN's instance norm) keeps the fixture free of conv biases
  right before a norm: their gradient is zero in exact arithmetic, so float32 rounding noise
  would decide their Adam steps.
Pools: ImagePool.query with its random draws replaced by Kallima's (Backend.image_pool):
  image i of a batch is item t = iteration·N + i of its pool's stream; while t < size it is
  stored in slot t and returned; after, Philox4x32-10 block t under the pool's seed gives
  words (w0, w1, ...): if (w0 >> 8)·2^-24 > 0.5 the image in slot w1 mod size is returned and
  replaced, else the image itself is returned. Seeds: fake_B's pool 0x9001 ^ 0xB, fake_A's
  0x9001 ^ 0xA (CycleGAN's poolSeed default and the salts in CycleGAN.swift).
Batch norm: train mode throughout (batch statistics; running statistics updated with
  momentum 0.1 and the unbiased variance), num_batches_tracked dropped.
Initialisation: init_weights('normal', 0.02) (conv weights N(0, 0.02), BN weight N(1, 0.02),
  biases 0), drawn by torch and rounded to float32 (Kallima's storage), stored as the initial
  state. Inputs are U(-1, 1) rounded to float32, one batch per iteration.
Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8 (the reference's). Stored after the third
  iteration: every parameter and buffer, Adam's exp_avg / exp_avg_sq under "<name>.exp_avg",
  the pools, and each iteration's losses under Kallima's statistic names.
"""
import base64
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_translation_network_fixtures as nets  # noqa: E402

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "KallimaGANTests", "Fixtures", "translation")
ITERATIONS = 3
LR, BETAS, ADAM_EPS = 2e-4, (0.5, 0.999), 1e-8


# MARK: Philox4x32-10 (Salmon et al. 2011), as Sources/KallimaCore/Philox.swift

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox_block(seed, counter):
    c0, c1, c2, c3 = counter & MASK, (counter >> 32) & MASK, 0, 0
    k0, k1 = seed & MASK, (seed >> 32) & MASK
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        hi0, lo0, hi1, lo1 = p0 >> 32, p0 & MASK, p1 >> 32, p1 & MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def check_philox():
    # Random123's known-answer vector for philox4x32-10 with counter and key of all ones
    # halves is in the Swift tests; here: the zero vector (ctr 0, key 0).
    assert philox_block(0, 0) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8), philox_block(0, 0)


class Pool:
    """ImagePool of pytorch-CycleGAN-and-pix2pix with Kallima's draws."""

    def __init__(self, size, seed):
        self.size, self.seed, self.items, self.images = size, seed, 0, []

    def query(self, images):
        out = []
        for image in images:
            image = image.detach().unsqueeze(0)
            t = self.items
            self.items += 1
            if t < self.size:
                self.images.append(image.clone())
                out.append(image)
                continue
            w = philox_block(self.seed, t)
            if (w[0] >> 8) * 2.0 ** -24 > 0.5:
                slot = w[1] % self.size
                shown = self.images[slot].clone()
                self.images[slot] = image.clone()
                out.append(shown)
            else:
                out.append(image)
        return torch.cat(out, 0)


# MARK: encoding

def f32(t):
    return torch.from_numpy(t.detach().numpy().astype(np.float32).astype(np.float64))


def enc(t):
    """float32 when the values are exactly float32 (the initial state, the inputs), else float64."""
    a = t.detach().double().contiguous().numpy().reshape(-1)
    assert np.all(np.isfinite(a))
    if np.array_equal(a.astype(np.float32).astype(np.float64), a):
        return {"shape": list(t.shape), "dtype": "f32", "base64": base64.b64encode(a.astype("<f4").tobytes()).decode()}
    return {"shape": list(t.shape), "dtype": "f64", "base64": base64.b64encode(a.astype("<f8").tobytes()).decode()}


def dec(d):
    return torch.from_numpy(np.frombuffer(base64.b64decode(d["base64"]), "<f4" if d["dtype"] == "f32" else "<f8").astype(np.float64))


def init_normal(net, gen):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.copy_(f32(torch.randn(m.weight.shape, generator=gen) * 0.02))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(f32(1 + torch.randn(m.weight.shape, generator=gen) * 0.02))
                m.bias.zero_()


def state(net):
    return {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def adam_state(prefix, net, opt):
    out = {}
    for name, p in net.named_parameters():
        s = opt.state.get(p, {})
        out[f"{prefix} {name}.exp_avg"] = s["exp_avg"]
        out[f"{prefix} {name}.exp_avg_sq"] = s["exp_avg_sq"]
    return out


def uniform_batch(gen, shape):
    return f32(torch.rand(shape, generator=gen) * 2 - 1)


# MARK: pix2pix

def pix2pix():
    gen = torch.Generator().manual_seed(11)
    G = nets.UnetGenerator(1, 3, 5, 2, "batch", False)
    D = nets.NLayerDiscriminator(4, 2, 2, "batch")
    init_normal(G, gen)
    init_normal(D, gen)
    initial = {f"G {k}": v.clone() for k, v in state(G).items()} | {f"D {k}": v.clone() for k, v in state(D).items()}
    optG = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    optD = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    bce = nn.BCEWithLogitsLoss()
    inputs, stats = [], []
    for _ in range(ITERATIONS):
        a, b = uniform_batch(gen, (2, 1, 32, 32)), uniform_batch(gen, (2, 3, 32, 32))
        inputs.append({"A": enc(a), "B": enc(b)})
        fake = G(a)
        # backward_D
        for p in D.parameters():
            p.requires_grad_(True)
        optD.zero_grad()
        pred_fake = D(torch.cat([a, fake.detach()], 1))
        loss_fake = bce(pred_fake, torch.zeros_like(pred_fake))
        pred_real = D(torch.cat([a, b], 1))
        loss_real = bce(pred_real, torch.ones_like(pred_real))
        ((loss_fake + loss_real) * 0.5).backward()
        optD.step()
        # backward_G
        for p in D.parameters():
            p.requires_grad_(False)
        optG.zero_grad()
        pred = D(torch.cat([a, fake], 1))
        loss_gan = bce(pred, torch.ones_like(pred))
        loss_l1 = nn.functional.l1_loss(fake, b)
        (loss_gan + 100 * loss_l1).backward()
        optG.step()
        stats.append({"D_real": loss_real.item(), "D_fake": loss_fake.item(), "G_GAN": loss_gan.item(), "G_L1": loss_l1.item()})
    final = {f"G {k}": v for k, v in state(G).items()} | {f"D {k}": v for k, v in state(D).items()}
    final |= adam_state("G", G, optG) | adam_state("D", D, optD)
    return {
        "method": "pix2pix", "batch": 2, "iterations": ITERATIONS,
        "initial": {k: enc(v) for k, v in initial.items()},
        "inputs": inputs, "statistics": stats,
        "final": {k: enc(v) for k, v in final.items()},
    }


# MARK: CycleGAN

def cyclegan():
    gen = torch.Generator().manual_seed(23)
    nets_ = {
        "G_A": nets.ResnetGenerator(1, 1, 2, "batch", False, 2), "G_B": nets.ResnetGenerator(1, 1, 2, "batch", False, 2),
        "D_A": nets.NLayerDiscriminator(1, 2, 2, "batch"), "D_B": nets.NLayerDiscriminator(1, 2, 2, "batch"),
    }
    for name in ["G_A", "G_B", "D_A", "D_B"]:
        init_normal(nets_[name], gen)
    initial = {f"{n} {k}": v.clone() for n, net in nets_.items() for k, v in state(net).items()}
    GA, GB, DA, DB = nets_["G_A"], nets_["G_B"], nets_["D_A"], nets_["D_B"]
    optG = {n: torch.optim.Adam(nets_[n].parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS) for n in ["G_A", "G_B"]}
    optD = {n: torch.optim.Adam(nets_[n].parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS) for n in ["D_A", "D_B"]}
    pool_b, pool_a = Pool(3, 0x9001 ^ 0xB), Pool(3, 0x9001 ^ 0xA)
    mse = nn.MSELoss()
    l1 = nn.functional.l1_loss
    lam_a, lam_b, lam_idt = 10.0, 10.0, 0.5
    inputs, stats = [], []
    for _ in range(ITERATIONS):
        a, b = uniform_batch(gen, (2, 1, 16, 16)), uniform_batch(gen, (2, 1, 16, 16))
        inputs.append({"A": enc(a), "B": enc(b)})
        fake_b = GA(a)
        rec_a = GB(fake_b)
        fake_a = GB(b)
        rec_b = GA(fake_a)
        for d in (DA, DB):
            for p in d.parameters():
                p.requires_grad_(False)
        for o in optG.values():
            o.zero_grad()
        idt_a = GA(b)
        loss_idt_a = l1(idt_a, b) * lam_b * lam_idt
        idt_b = GB(a)
        loss_idt_b = l1(idt_b, a) * lam_a * lam_idt
        pa = DA(fake_b)
        loss_g_a = mse(pa, torch.ones_like(pa))
        pb = DB(fake_a)
        loss_g_b = mse(pb, torch.ones_like(pb))
        loss_cycle_a = l1(rec_a, a) * lam_a
        loss_cycle_b = l1(rec_b, b) * lam_b
        (loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b).backward()
        for o in optG.values():
            o.step()
        for d in (DA, DB):
            for p in d.parameters():
                p.requires_grad_(True)
        for o in optD.values():
            o.zero_grad()

        def basic(D, real, fake):
            pr = D(real)
            pf = D(fake.detach())
            loss = (mse(pr, torch.ones_like(pr)) + mse(pf, torch.zeros_like(pf))) * 0.5
            loss.backward()
            return loss

        loss_d_a = basic(DA, b, pool_b.query(fake_b))
        loss_d_b = basic(DB, a, pool_a.query(fake_a))
        for o in optD.values():
            o.step()
        stats.append({
            "D_A": loss_d_a.item(), "G_A": loss_g_a.item(), "cycle_A": loss_cycle_a.item(), "idt_A": loss_idt_a.item(),
            "D_B": loss_d_b.item(), "G_B": loss_g_b.item(), "cycle_B": loss_cycle_b.item(), "idt_B": loss_idt_b.item(),
        })
    final = {f"{n} {k}": v for n, net in nets_.items() for k, v in state(net).items()}
    for n in ["G_A", "G_B"]:
        final |= adam_state(n, nets_[n], optG[n])
    for n in ["D_A", "D_B"]:
        final |= adam_state(n, nets_[n], optD[n])
    final["pools fake_B_pool"] = torch.cat(pool_b.images, 0)
    final["pools fake_A_pool"] = torch.cat(pool_a.images, 0)
    swaps = [(t, philox_block(0x9001 ^ 0xB, t)) for t in range(3, 6)]
    print("fake_B pool choices t=3..5:", [((w[0] >> 8) * 2.0 ** -24 > 0.5, w[1] % 3) for _, w in swaps])
    return {
        "method": "cyclegan", "batch": 2, "iterations": ITERATIONS,
        "initial": {k: enc(v) for k, v in initial.items()},
        "inputs": inputs, "statistics": stats,
        "final": {k: enc(v) for k, v in final.items()},
    }


# MARK: StarGAN

def order_mix(x):
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK
    x ^= x >> 16
    return x


def order_index(seed, count, g):
    """DataOrder(seed: seed, count: count).index(g) (Sources/KallimaCore/DataOrder.swift)."""
    seed32 = (seed ^ (seed >> 32)) & MASK
    bits = 1
    while (1 << (2 * bits)) < count:
        bits += 1
    mask = (1 << bits) - 1
    p, epoch = g % count, g // count
    key = order_mix(seed32 ^ order_mix((epoch + 0x9E3779B9) & MASK))
    x = p
    while True:
        left, right = x >> bits, x & mask
        for r in range(4):
            f = order_mix(right ^ key ^ ((r * 0x85EBCA6B) & MASK)) & mask
            left, right = right, left ^ f
        x = (left << bits) | right
        if x < count:
            return x


def stargan():
    """StarGAN's solver.train, four iterations with n_critic 2 (D on every iteration, G after D
    on iterations 2 and 4), batch 3, 3x16x16 images, 3 attributes (BCE per attribute):
    G = Generator(conv_dim 4, c_dim 3, repeat_num 1), D = Discriminator(16, conv_dim 4, c_dim 3,
    repeat_num 3), PyTorch's default init (as StarGAN), rounded to float32. c_trg is c_org
    permuted as Kallima permutes it on the device: target i of iteration t is row
    DataOrder(seed 0x7A46, count 3).index(3t + i) (StarGAN's targetSeed default). α per
    iteration is stored and fed. Adam 1e-4, (0.5, 0.999); λ_cls 1, λ_rec 10, λ_gp 10. The IN
    layers' running statistics (track_running_stats=True) are not compared: PyTorch updates
    them in train mode, Kallima keeps them for state-dict interchange only (neither uses them
    in training)."""
    gen = torch.Generator().manual_seed(31)
    torch.manual_seed(31)
    G = nets.StarGenerator(4, 3, 1)
    D = nets.StarDiscriminator(16, 4, 3, 3)
    with torch.no_grad():
        for net in (G, D):
            for p in net.parameters():
                p.copy_(f32(p))
    initial = {f"G {k}": v.clone() for k, v in state(G).items()} | {f"D {k}": v.clone() for k, v in state(D).items()}
    optG = torch.optim.Adam(G.parameters(), lr=1e-4, betas=BETAS, eps=ADAM_EPS)
    optD = torch.optim.Adam(D.parameters(), lr=1e-4, betas=BETAS, eps=ADAM_EPS)
    cls = lambda logit, target: nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="sum") / logit.size(0)
    inputs, stats = [], []
    n = 3
    for t in range(4):
        x = uniform_batch(gen, (n, 3, 16, 16))
        c_org = (torch.rand((n, 3), generator=gen) > 0.5).double()
        alpha = f32(torch.rand((n,), generator=gen))
        inputs.append({"A": enc(x), "labels": enc(c_org), "alpha": enc(alpha)})
        c_trg = c_org[[order_index(0x7A46, n, n * t + i) for i in range(n)]]
        out_src, out_cls = D(x)
        d_real = -torch.mean(out_src)
        d_cls = cls(out_cls, c_org)
        x_fake = G(x, c_trg)
        out_src, _ = D(x_fake.detach())
        d_fake = torch.mean(out_src)
        x_hat = (alpha.view(n, 1, 1, 1) * x + (1 - alpha.view(n, 1, 1, 1)) * x_fake.detach()).requires_grad_(True)
        out_src, _ = D(x_hat)
        grad = torch.autograd.grad(out_src, x_hat, torch.ones_like(out_src), retain_graph=True, create_graph=True)[0]
        d_gp = torch.mean((grad.view(n, -1).norm(dim=1) - 1) ** 2)
        optD.zero_grad()
        optG.zero_grad()
        (d_real + d_fake + d_cls + 10 * d_gp).backward()
        optD.step()
        row = {"D_real": d_real.item(), "D_fake": d_fake.item(), "D_cls": d_cls.item(), "D_gp": d_gp.item()}
        if (t + 1) % 2 == 0:
            x_fake = G(x, c_trg)
            out_src, out_cls = D(x_fake)
            g_fake = -torch.mean(out_src)
            g_cls = cls(out_cls, c_trg)
            g_rec = torch.mean(torch.abs(x - G(x_fake, c_org)))
            optD.zero_grad()
            optG.zero_grad()
            (g_fake + 10 * g_rec + g_cls).backward()
            optG.step()
            row |= {"G_fake": g_fake.item(), "G_rec": g_rec.item(), "G_cls": g_cls.item()}
        stats.append(row)
    final = {f"G {k}": v for k, v in state(G).items() if "running" not in k} | {f"D {k}": v for k, v in state(D).items()}
    final |= adam_state("G", G, optG) | adam_state("D", D, optD)
    return {
        "method": "stargan", "batch": n, "iterations": 4,
        "initial": {k: enc(v) for k, v in initial.items()},
        "inputs": inputs, "statistics": stats,
        "final": {k: enc(v) for k, v in final.items()},
    }


def main():
    check_philox()
    os.makedirs(OUT, exist_ok=True)
    for make in (pix2pix, cyclegan, stargan):
        fixture = make()
        path = os.path.join(OUT, fixture["method"] + ".json")
        with open(path, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
        moved = max(
            (dec(fixture["final"][k]) - dec(v)).abs().max().item()
            for k, v in fixture["initial"].items() if k in fixture["final"] and "running" not in k)
        print(f"{path}: {len(fixture['final'])} tensors, largest parameter move {moved:.3g}; losses {fixture['statistics'][-1]}")


if __name__ == "__main__":
    main()
