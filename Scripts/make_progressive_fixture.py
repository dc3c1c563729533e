#!/opt/torchenv/bin/python
"""Three iterations of a Progressive GAN fade-in phase in PyTorch (float64), as a fixture for
Kallima's ProgressiveGAN networks and recipe (Karras et al. 2018; the reference's G_paper and
D_paper, tkarras/progressive_growing_of_gans).

Writes Tests/KallimaGANTests/Fixtures/progressive/fade8.json. The Swift build and tests never
run this script; rerun it by hand when the networks or the recipe change:

    /opt/torchenv/bin/python Scripts/make_progressive_fixture.py

Needs torch and numpy (/opt/torchenv: `python3 -m venv /opt/torchenv &&
/opt/torchenv/bin/pip install torch numpy`; written with torch 2.15.0, CPU).

The phase: 8x8 fading in over 4x4 (ProgressiveGAN.Config(resolution: 8, channels: 1, latent:
8, featureBase: 16, featureMax: 8): feature maps nf(0) = 8, nf(1) = 8, nf(2) = 4), batch 8
(two minibatch-stddev groups of 4). The fade-in α is 0, 0.25, 0.5 in the three iterations
(advanced by 0.25 after each, as ProgressiveTrainer advances it by batch/imagesPerPhase).

Networks (NCHW; every conv and dense layer has an equalised learning rate: weight N(0, 1)
multiplied at use by gain/sqrt(fan_in), gain sqrt(2) unless stated; biases added after):
  G: z [N, 8, 1, 1] -> pixel norm -> flatten -> dense b4.dense (8 -> 16*8, gain sqrt(2)/4, no
     bias in the product) -> [N, 8, 4, 4] + b4.dense.bias per channel -> lrelu 0.2 -> pixel norm
     -> b4.conv 3x3 (8 -> 8) -> lrelu -> pixel norm = h4
     new: nearest x2 -> b8.conv0 3x3 (8 -> 4) -> lrelu -> pn -> b8.conv1 3x3 (4 -> 4) -> lrelu
          -> pn -> torgb8 1x1 (4 -> 1, gain 1)
     old: torgb4 1x1 (8 -> 1, gain 1) on h4 -> nearest x2
     out = (1 - a)*old + a*new
  real input (D's view of the data): x' = (1 - a)*nearest_x2(avgpool2(x)) + a*x
  D: new: fromrgb8 1x1 (1 -> 4) -> lrelu -> b8.conv0 3x3 (4 -> 4) -> lrelu -> b8.conv1 3x3
          (4 -> 8) -> lrelu -> avgpool2
     old: avgpool2(image) -> fromrgb4 1x1 (1 -> 8) -> lrelu
     h = (1 - a)*old + a*new -> minibatch stddev (group 4) -> b4.conv 3x3 (9 -> 8) -> lrelu
     -> flatten -> b4.dense0 (128 -> 8) -> lrelu -> b4.dense1 (8 -> 1, gain 1)
  pixel norm: x / sqrt(mean_c x^2 + 1e-8). Minibatch stddev: sample n in member n // M of its
  group (M = N / 4), sigma = sqrt(biased var over the 4 members + 1e-8), averaged over (c, h, w),
  appended as one channel.

Recipe (Kallima's, GANTrainer's order): D step: loss_D = -mean D(x') + mean D(G(zD)) +
10*mean((|grad D(xhat)| - 1)^2) + 0.001*mean(D(x')^2), xhat = fake + alpha_gp*(x' - fake)
(alpha_gp ~ U[0, 1) per sample, the input "alpha"); Adam (lr 1e-3, betas (0, 0.99), eps 1e-8,
torch.optim.Adam) on D. G step: loss_G = -mean D(G(zG)); Adam on G; then the EMA of G:
ema = 0.999*ema + 0.001*p for every parameter (α copied). Kallima's networks hold α as a
buffer "alpha" in each store (G, D, G_ema).

Stored: initial weights as f32-exact values (N(0, 1) weights, small random biases); inputs x
(uniform [-1, 1)), zD, zG, alpha as f32-exact; every expected value f64. Statistics: lossD,
lossG, grad_norm (mean |grad D(xhat)|).
"""
import base64
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/KallimaGANTests/Fixtures/progressive/fade8.json"

N, C, LATENT, ITERATIONS, DELTA = 8, 1, 8, 3, 0.25
NF = {0: 8, 1: 8, 2: 4}
SQRT2 = np.sqrt(2.0)


def f32(t):
    return torch.from_numpy(t.detach().numpy().astype(np.float32).astype(np.float64))


def enc(t, dtype):
    a = t.detach().contiguous().numpy().reshape(-1).astype({"f32": np.float32, "f64": np.float64}[dtype])
    assert np.all(np.isfinite(a))
    return {"shape": list(t.shape), "dtype": dtype, "base64": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


# Parameter shapes and gains, by Kallima's names.
G_SHAPES = {
    "b4.dense.weight": ([16 * NF[1], LATENT], SQRT2 / 4), "b4.dense.bias": ([NF[1]], None),
    "b4.conv.weight": ([NF[1], NF[1], 3, 3], SQRT2), "b4.conv.bias": ([NF[1]], None),
    "b8.conv0.weight": ([NF[2], NF[1], 3, 3], SQRT2), "b8.conv0.bias": ([NF[2]], None),
    "b8.conv1.weight": ([NF[2], NF[2], 3, 3], SQRT2), "b8.conv1.bias": ([NF[2]], None),
    "torgb4.weight": ([C, NF[1], 1, 1], 1.0), "torgb4.bias": ([C], None),
    "torgb8.weight": ([C, NF[2], 1, 1], 1.0), "torgb8.bias": ([C], None),
}
D_SHAPES = {
    "fromrgb8.weight": ([NF[2], C, 1, 1], SQRT2), "fromrgb8.bias": ([NF[2]], None),
    "b8.conv0.weight": ([NF[2], NF[2], 3, 3], SQRT2), "b8.conv0.bias": ([NF[2]], None),
    "b8.conv1.weight": ([NF[1], NF[2], 3, 3], SQRT2), "b8.conv1.bias": ([NF[1]], None),
    "fromrgb4.weight": ([NF[1], C, 1, 1], SQRT2), "fromrgb4.bias": ([NF[1]], None),
    "b4.conv.weight": ([NF[1], NF[1] + 1, 3, 3], SQRT2), "b4.conv.bias": ([NF[1]], None),
    "b4.dense0.weight": ([NF[0], 16 * NF[1]], SQRT2), "b4.dense0.bias": ([NF[0]], None),
    "b4.dense1.weight": ([1, NF[0]], 1.0), "b4.dense1.bias": ([1], None),
}


def scale(shape, gain):
    fan_in = int(np.prod(shape[1:]))
    # Kallima rounds the scale to float32 once (Conv2d/Linear.weightScale).
    return float(np.float32(gain / np.sqrt(fan_in)))


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def pixel_norm(x):
    return x / torch.sqrt((x * x).mean(dim=1, keepdim=True) + 1e-8)


def mbstd(x, group=4):
    n, c, h, w = x.shape
    g = min(group, n)
    m = n // g
    y = x.reshape(g, m, c, h, w)
    y = y - y.mean(dim=0, keepdim=True)
    y = torch.sqrt((y * y).mean(dim=0) + 1e-8)            # [m, c, h, w]
    y = y.mean(dim=[1, 2, 3])                              # [m]
    y = y.reshape(1, m, 1, 1, 1).expand(g, m, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, y], dim=1)


def conv(p, name, x, gain_shape):
    shape, gain = gain_shape
    w = p[name + ".weight"] * scale(shape, gain)
    k = shape[2]
    return F.conv2d(x, w, p[name + ".bias"], padding=k // 2)


def dense(p, name, x, gain_shape, bias=True):
    shape, gain = gain_shape
    y = x @ (p[name + ".weight"] * scale(shape, gain)).t()
    return y + p[name + ".bias"] if bias else y


def up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def down(x):
    return F.avg_pool2d(x, 2)


def lerp(old, new, a):
    return (1 - a) * old + a * new


def G(p, z, a):
    h = pixel_norm(z).flatten(1)
    h = dense(p, "b4.dense", h, G_SHAPES["b4.dense.weight"], bias=False).reshape(-1, NF[1], 4, 4)
    h = pixel_norm(lrelu(h + p["b4.dense.bias"].reshape(1, -1, 1, 1)))
    h4 = pixel_norm(lrelu(conv(p, "b4.conv", h, G_SHAPES["b4.conv.weight"])))
    h = pixel_norm(lrelu(conv(p, "b8.conv0", up(h4), G_SHAPES["b8.conv0.weight"])))
    h = pixel_norm(lrelu(conv(p, "b8.conv1", h, G_SHAPES["b8.conv1.weight"])))
    new = conv(p, "torgb8", h, G_SHAPES["torgb8.weight"])
    old = up(conv(p, "torgb4", h4, G_SHAPES["torgb4.weight"]))
    return lerp(old, new, a)


def real_input(x, a):
    return lerp(up(down(x)), x, a)


def D(p, image, a):
    h = lrelu(conv(p, "fromrgb8", image, D_SHAPES["fromrgb8.weight"]))
    h = lrelu(conv(p, "b8.conv0", h, D_SHAPES["b8.conv0.weight"]))
    h = down(lrelu(conv(p, "b8.conv1", h, D_SHAPES["b8.conv1.weight"])))
    old = lrelu(conv(p, "fromrgb4", down(image), D_SHAPES["fromrgb4.weight"]))
    h = mbstd(lerp(old, h, a))
    h = lrelu(conv(p, "b4.conv", h, D_SHAPES["b4.conv.weight"])).flatten(1)
    h = lrelu(dense(p, "b4.dense0", h, D_SHAPES["b4.dense0.weight"]))
    return dense(p, "b4.dense1", h, D_SHAPES["b4.dense1.weight"])


def draw():
    torch.manual_seed(15)
    def params(shapes):
        return {k: f32(torch.randn(s) if gain is not None else 0.1 * torch.randn(s)) for k, (s, gain) in shapes.items()}
    g, d = params(G_SHAPES), params(D_SHAPES)
    steps = []
    for _ in range(ITERATIONS):
        steps.append({
            "x": f32(torch.rand(N, C, 8, 8) * 2 - 1), "zD": f32(torch.randn(N, LATENT, 1, 1)),
            "alpha": f32(torch.rand(N)), "zG": f32(torch.randn(N, LATENT, 1, 1)),
        })
    return g, d, steps


def train(g0, d0, steps, check=True):
    g = {k: v.clone().requires_grad_(True) for k, v in g0.items()}
    d = {k: v.clone().requires_grad_(True) for k, v in d0.items()}
    ema = {k: v.clone() for k, v in g0.items()}
    opt_g = torch.optim.Adam(list(g.values()), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(list(d.values()), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    records = []
    for t, inp in enumerate(steps):
        a = t * DELTA
        # D step.
        x = real_input(inp["x"], a)
        with torch.no_grad():
            fake = G(g, inp["zD"], a)
        d_real = D(d, x, a)
        d_fake = D(d, fake, a)
        xhat = (fake + inp["alpha"].reshape(-1, 1, 1, 1) * (x - fake)).requires_grad_(True)
        grad, = torch.autograd.grad(D(d, xhat, a).sum(), xhat, create_graph=True)
        norms = grad.flatten(1).norm(dim=1)
        penalty = 10 * ((norms - 1) ** 2).mean()
        drift = 0.001 * (d_real ** 2).mean()
        loss_d = -d_real.mean() + d_fake.mean() + penalty + drift
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # G step.
        loss_g = -D(d, G(g, inp["zG"], a), a).mean()
        opt_g.zero_grad()
        for v in d.values():
            v.grad = None
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for k in ema:
                ema[k] = 0.999 * ema[k] + 0.001 * g[k]
        records.append({
            "statistics": {"lossD": [loss_d.item()], "lossG": loss_g.item(), "grad_norm": [norms.mean().item()]},
            "state": state(g, d, ema, opt_g, opt_d, (t + 1) * DELTA),
        })
    return records


def state(g, d, ema, opt_g, opt_d, alpha):
    def optimizer(opt, params):
        out = {}
        for k, v in params.items():
            s = opt.state[v]
            out[k + ".exp_avg"] = s["exp_avg"].detach().clone()
            out[k + ".exp_avg_sq"] = s["exp_avg_sq"].detach().clone()
        return out
    one = torch.tensor([alpha])
    return {
        "G": {**{k: v.detach().clone() for k, v in g.items()}, "alpha": one},
        "D": {**{k: v.detach().clone() for k, v in d.items()}, "alpha": one},
        "G_ema": {**{k: v.clone() for k, v in ema.items()}, "alpha": one},
        "optimizer_G": optimizer(opt_g, g), "optimizer_D": optimizer(opt_d, d),
    }


def main():
    g, d, steps = draw()
    records = train(g, d, steps)
    # Self-check: a float32 run stays close to float64, and each mechanism moves the result.
    zero = torch.tensor([0.0])
    doc = {
        "config": {
            # The fields ObjectiveFixture decodes (runTrainingFixture reads n_critic and objective).
            "objective": "wgan-gp", "nz": LATENT, "ngf": 8, "ndf": 8, "channels": C, "image_size": 8, "batch": N,
            "iterations": ITERATIONS, "n_critic": 1, "d_arch": "progressive",
            "optimizer": {k: {"kind": "adam", "lr": 1e-3, "beta1": 0.0, "beta2": 0.99, "eps": 1e-8} for k in ("G", "D")},
            "schedule": {"kind": "constant"}, "ema": {"beta": 0.999, "start": 0}, "lambda": 10.0,
            "progressive": {"resolution": 8, "channels": C, "latent": LATENT, "feature_base": 16, "feature_max": 8,
                            "group_size": 4, "phase": "8x8 fade-in", "alpha_step": DELTA, "drift": 0.001},
        },
        "initial": {
            "G": {**{k: enc(v, "f32") for k, v in g.items()}, "alpha": enc(zero, "f32")},
            "D": {**{k: enc(v, "f32") for k, v in d.items()}, "alpha": enc(zero, "f32")},
            "G_ema": {**{k: enc(v, "f32") for k, v in g.items()}, "alpha": enc(zero, "f32")},
        },
        "steps": [
            {"inputs": {k: enc(v, "f32") for k, v in inp.items()}, "statistics": r["statistics"],
             "state": {s: {k: enc(v, "f64") for k, v in tensors.items()} for s, tensors in r["state"].items()}}
            for inp, r in zip(steps, records)
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1))
    moved = max((records[-1]["state"]["G"][k] - g[k]).abs().max().item() for k in g)
    print(f"wrote {OUT.relative_to(ROOT)}: loss_D {[r['statistics']['lossD'][0] for r in records]}, "
          f"largest G weight move {moved:.3g}")


if __name__ == "__main__":
    main()
