#!/opt/torchenv/bin/python
"""Golden values from PyTorch for Kallima's op set.

Writes Tests/KallimaOpenCLTests/Fixtures/golden.json, a small committed fixture that
Tests/KallimaOpenCLTests/GoldenTests.swift checks on both backends (CPU and OpenCL).
The Swift build and tests never run this script; rerun it by hand only when a case is
added or changed:

    /opt/torchenv/bin/python Scripts/make_golden_fixtures.py

Method: every input is drawn in float32 with a fixed seed, so it is exactly what the
Swift side writes into a float32 tensor. The expected outputs are computed by PyTorch in
float64 from those exact float32 values (torch.autograd for the gradients,
torch.optim.Adam for the optimiser), so the references carry no float32 rounding of their
own; tolerances in the Swift test cover only Kallima's float32 error.

Layout:
    {"generator": ..., "torch_version": ..., "seed": ...,
     "cases": {name: {"params": {key: number}, "tensors": {key: {"shape": [...], "data": [...]}}}}}
"""

import json
import os

import torch
import torch.nn.functional as F

SEED = 20240611
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "KallimaOpenCLTests", "Fixtures",
    "golden.json")


def f32(shape, scale=1.0, offset=0.0):
    """A float32 random normal tensor, returned in float64 (exactly the same values)."""
    return (torch.randn(*shape, dtype=torch.float32) * scale + offset).to(torch.float32).double()


def as_f32(t):
    """Rounds a float64 tensor to float32 values (kept in float64) for use as an input."""
    return t.detach().to(torch.float32).double()


def enc(t):
    t = t.detach().double().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def case(params, **tensors):
    return {"params": params, "tensors": {k: enc(v) for k, v in tensors.items()}}


def conv2d_case():
    stride, padding = 2, 1
    x = f32([2, 3, 9, 9])
    w = f32([5, 3, 4, 4], scale=0.25)
    b = f32([5], scale=0.5)
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = F.conv2d(xr, wr, br, stride=stride, padding=padding)
    dy = f32(list(y.shape))
    dx, dw, db = torch.autograd.grad(y, (xr, wr, br), grad_outputs=dy)
    return case(
        {"stride": stride, "padding": padding},
        x=x, weight=w, bias=b, y=y, dy=dy, dx=dx, dweight=dw, dbias=db)


def conv_transpose2d_case():
    stride, padding, output_padding = 2, 1, 0
    x = f32([2, 4, 5, 5])
    w = f32([4, 3, 4, 4], scale=0.25)  # PyTorch layout: (in, out, kh, kw)
    b = f32([3], scale=0.5)
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = F.conv_transpose2d(
        xr, wr, br, stride=stride, padding=padding, output_padding=output_padding)
    dy = f32(list(y.shape))
    dx, dw, db = torch.autograd.grad(y, (xr, wr, br), grad_outputs=dy)
    return case(
        {"stride": stride, "padding": padding, "output_padding": output_padding},
        x=x, weight=w, bias=b, y=y, dy=dy, dx=dx, dweight=dw, dbias=db)


def batchnorm_case():
    momentum, eps = 0.1, 1e-5
    c = 3
    # Per-channel offsets and scales so the statistics differ between channels.
    x = as_f32(f32([4, c, 5, 5]) * torch.tensor([1.0, 2.5, 0.5]).double().view(1, c, 1, 1)
               + torch.tensor([0.3, -1.5, 4.0]).double().view(1, c, 1, 1))
    gamma = f32([c], scale=0.5, offset=1.0)
    beta = f32([c], scale=0.5)
    running_mean0 = f32([c], scale=0.5)
    running_var0 = as_f32(f32([c]).abs() + 0.5)
    dy = f32([4, c, 5, 5])

    xr, gr, br = (t.clone().requires_grad_(True) for t in (x, gamma, beta))
    rm, rv = running_mean0.clone(), running_var0.clone()
    y = F.batch_norm(xr, rm, rv, gr, br, training=True, momentum=momentum, eps=eps)
    dx, dgamma, dbeta = torch.autograd.grad(y, (xr, gr, br), grad_outputs=dy)
    # What Kallima saves for backward: batch mean and 1/sqrt(biased var + eps).
    save_mean = x.mean(dim=(0, 2, 3))
    save_invstd = 1.0 / torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + eps)
    train = case(
        {"momentum": momentum, "eps": eps},
        x=x, gamma=gamma, beta=beta, running_mean_in=running_mean0, running_var_in=running_var0,
        dy=dy, y=y, running_mean=rm, running_var=rv, save_mean=save_mean,
        save_invstd=save_invstd, dx=dx, dgamma=dgamma, dbeta=dbeta)

    # Eval mode with the running statistics the train step produced (rounded to float32,
    # the values a float32 backend holds).
    rm32, rv32 = as_f32(rm), as_f32(rv)
    y_eval = F.batch_norm(x, rm32, rv32, gamma, beta, training=False, eps=eps)
    evalc = case(
        {"eps": eps},
        x=x, gamma=gamma, beta=beta, running_mean=rm32, running_var=rv32, y=y_eval)
    return train, evalc


def bce_case():
    n = 64
    logits = f32([n], scale=4.0)
    special = torch.tensor(
        [100.0, -100.0, 99.5, -99.5, 60.0, -60.0, 30.0, -30.0, 17.0, -17.0, 0.0, 1e-3])
    logits[: len(special)] = special.double()
    targets = torch.rand(n, dtype=torch.float32).double()
    # Exact 0/1 targets next to the extreme logits (both agreeing and opposing signs).
    targets[:8] = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]).double()
    targets[8:12] = torch.tensor([0.5, 0.25, 1.0, 0.0]).double()
    logits = logits.view(4, 16)
    targets = targets.view(4, 16)
    lr_ = logits.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(lr_, targets, reduction="mean")
    (dlogits,) = torch.autograd.grad(loss, (lr_,), grad_outputs=torch.ones_like(loss))
    return case({"dloss": 1.0}, logits=logits, targets=targets, loss=loss.reshape(1),
                dlogits=dlogits)


def adam_case():
    lr, betas, eps = 2e-4, (0.5, 0.999), 1e-8
    n = 37
    param0 = f32([n])
    grad1 = f32([n], scale=0.1)
    grad2 = f32([n], scale=0.1)
    # Values where eps matters, a zero gradient, a sign flip and a large gradient.
    grad1[:6] = torch.tensor([0.0, 1e-8, -3e-8, 1e-6, 10.0, -0.5]).double()
    grad2[:6] = torch.tensor([0.0, -1e-8, 2e-8, 0.0, -10.0, 0.5]).double()
    grad1, grad2 = as_f32(grad1), as_f32(grad2)

    p = param0.clone().requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps, weight_decay=0)
    out = {}
    for step, g in ((1, grad1), (2, grad2)):
        p.grad = g.clone()
        opt.step()
        st = opt.state[p]
        out[step] = (p.detach().clone(), st["exp_avg"].clone(), st["exp_avg_sq"].clone())
    return case(
        {"lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": 0.0},
        param0=param0, grad1=grad1, grad2=grad2,
        param1=out[1][0], exp_avg1=out[1][1], exp_avg_sq1=out[1][2],
        param2=out[2][0], exp_avg2=out[2][1], exp_avg_sq2=out[2][2])


def pooling_cases():
    """Max and average pooling (both count_include_pad settings, ceil mode) and bilinear
    resizing, with their input gradients: what pytorch-fid's Inception and torchvision's
    SqueezeNet need."""
    out = {}
    x = f32([1, 3, 9, 8])
    specs = {
        "max_pool2d_k3s2": (lambda t: F.max_pool2d(t, 3, 2), {"kernel": 3, "stride": 2, "padding": 0, "ceil": 0}),
        "max_pool2d_k3s2_ceil": (lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True),
                                 {"kernel": 3, "stride": 2, "padding": 0, "ceil": 1}),
        "avg_pool2d_k3s1p1_exclude_pad": (
            lambda t: F.avg_pool2d(t, 3, 1, 1, count_include_pad=False),
            {"kernel": 3, "stride": 1, "padding": 1, "ceil": 0, "count_include_pad": 0}),
        "avg_pool2d_k3s2p1_ceil": (
            lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True),
            {"kernel": 3, "stride": 2, "padding": 1, "ceil": 1, "count_include_pad": 1}),
        "upsample_bilinear2d": (
            lambda t: F.interpolate(t, size=(19, 5), mode="bilinear", align_corners=False),
            {"oh": 19, "ow": 5}),
    }
    for name, (fn, params) in specs.items():
        xr = x.clone().requires_grad_(True)
        y = fn(xr)
        dy = f32(list(y.shape))
        (dx,) = torch.autograd.grad(y, (xr,), grad_outputs=dy)
        out[name] = case(params, x=x, y=y, dy=dy, dx=dx)
    return out


def softmax_case():
    """Cross-entropy with class-index targets (given to Kallima as one-hot rows) and with
    probability targets, extreme logits included, plus the row softmax."""
    n, c = 6, 10
    logits = f32([n, c], scale=3.0)
    logits[0, :3] = torch.tensor([100.0, -100.0, 50.0]).double()
    logits[1, :] = 80.0
    labels = torch.randint(0, c, (n,))
    onehot = F.one_hot(labels, c).double()
    probs = torch.rand(n, c, dtype=torch.float32).double()
    probs = as_f32(probs / probs.sum(dim=1, keepdim=True))
    out = {}
    for name, target, t in (("labels", labels, onehot), ("probabilities", probs, probs)):
        lr_ = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(lr_, target, reduction="mean")
        (dlogits,) = torch.autograd.grad(loss, (lr_,))
        out[name] = (t, loss.reshape(1), dlogits)
    return case({"dloss": 1.0}, logits=logits, softmax=torch.softmax(logits, dim=1),
                targets_labels=out["labels"][0], loss_labels=out["labels"][1], dlogits_labels=out["labels"][2],
                targets_probabilities=out["probabilities"][0], loss_probabilities=out["probabilities"][1],
                dlogits_probabilities=out["probabilities"][2])


def main():
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    cases = {}
    cases["conv2d"] = conv2d_case()
    cases["conv_transpose2d"] = conv_transpose2d_case()
    cases["batchnorm2d_train"], cases["batchnorm2d_eval"] = batchnorm_case()
    cases["bce_logits"] = bce_case()
    cases["adam"] = adam_case()
    cases.update(pooling_cases())
    cases["softmax_cross_entropy"] = softmax_case()
    doc = {
        "generator": "Scripts/make_golden_fixtures.py",
        "torch_version": torch.__version__,
        "seed": SEED,
        "note": "inputs are float32 values; expected outputs computed by PyTorch in float64",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes), torch {torch.__version__}")


if __name__ == "__main__":
    main()
