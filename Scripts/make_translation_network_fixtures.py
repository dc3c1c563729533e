#!/opt/torchenv/bin/python
"""The image-to-image translation networks of pix2pix/CycleGAN (Isola et al. 2017; Zhu et al.
2017; junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py) and StarGAN (Choi et al.
2018; yunjey/stargan, model.py), re-stated in PyTorch, as fixtures for
Tests/KallimaGANTests/TranslationNetworkTests.swift.

    /opt/torchenv/bin/python Scripts/make_translation_network_fixtures.py

Writes Tests/KallimaGANTests/Fixtures/translation_networks.json (narrow networks, float64
forward passes) and Tests/KallimaGANTests/Fixtures/translation_parameter_counts.json (the
full-size networks' trainable parameter counts). The build and tests never run it.

Each narrow variant stores: its state-dict keys in order with shapes and whether each is a
trainable parameter (num_batches_tracked, an int64 counter Kallima does not keep, is left
out), its trainable parameter count, the binding (train: PyTorch's default module state,
batch statistics and running-statistics updates; eval: running statistics, no dropout), and
in float64 the output for the input below, plus the batch norms' running statistics after
the forward in train mode, and for some variants dx = d(Σ r·output)/dx with
r_i = cos(0.917·i) (the backward through the skip concatenations, reflection pads, norms).

Deterministic values, computed the same way by the Swift test (math.sin is the C library's
sin, as Foundation's):
  parameter k (its index among the named parameters), element i (row-major):
    weights of rank >= 2: sin(0.731·i + 0.5·k + 0.1) · 1.5 / sqrt(numel / shape[0])
    weights of rank 1 (norm scales): 1 + 0.2·sin(0.731·i + 0.5·k + 0.1)
    biases: 0.2·sin(0.731·i + 0.5·k + 0.1)
  buffers keep PyTorch's initial values (running_mean 0, running_var 1);
  input element i: 0.9·sin(0.377·i + 0.2); StarGAN's condition c: rows of 0/1 given below.
Constants are the float32 values Kallima holds (LeakyReLU slopes 0.2 and 0.01, eps 1e-5,
momentum 0.1), so the float64 comparison checks the wiring, not a constant's rounding.

Note on pix2pix's U-Net: every non-outermost UnetSkipConnectionBlock starts with
nn.LeakyReLU(0.2, inplace=True), which rewrites its input x in place before
`torch.cat([x, self.model(x)], 1)` reads it, so the skip carries LeakyReLU(x), not x. This
re-statement keeps the in-place activation so the fixture holds the reference's behaviour.
"""
import functools
import json
import math
import os
import base64

import numpy as np
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
# Kallima holds slopes, eps and momentum as Float: the fixture uses those float32 values, so
# the comparison in Double checks the wiring, not the rounding of a constant.
SLOPE_02 = float(np.float32(0.2))
SLOPE_001 = float(np.float32(0.01))
EPS = float(np.float32(1e-5))
MOMENTUM = float(np.float32(0.1))
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "KallimaGANTests", "Fixtures")


# MARK: pix2pix / CycleGAN (models/networks.py)

class Identity(nn.Module):
    def forward(self, x):
        return x


def norm_layer_for(norm):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, eps=EPS, momentum=MOMENTUM, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, eps=EPS, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: Identity()
    raise ValueError(norm)


def uses_bias(norm):
    # use_bias = norm_layer.func == nn.InstanceNorm2d ('none' is not a partial: False).
    return norm == "instance"


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm, use_dropout):
        super().__init__()
        nl, bias = norm_layer_for(norm), uses_bias(norm)
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=bias), nl(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=bias), nl(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm, use_dropout, n_blocks):
        super().__init__()
        nl, bias = norm_layer_for(norm), uses_bias(norm)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias), nl(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias), nl(ngf * mult * 2),
                      nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4, norm, use_dropout)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=bias), nl(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm="batch", use_dropout=False):
        super().__init__()
        self.outermost = outermost
        nl, bias = norm_layer_for(norm), uses_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        downrelu = nn.LeakyReLU(SLOPE_02, True)
        downnorm = nl(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = nl(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm, use_dropout):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers, norm):
        super().__init__()
        nl, bias = norm_layer_for(norm), uses_bias(norm)
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(SLOPE_02, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias), nl(ndf * mult),
                    nn.LeakyReLU(SLOPE_02, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias), nl(ndf * mult),
                nn.LeakyReLU(SLOPE_02, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, norm):
        super().__init__()
        nl, bias = norm_layer_for(norm), uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(SLOPE_02, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), nl(ndf * 2), nn.LeakyReLU(SLOPE_02, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x):
        return self.net(x)


# MARK: StarGAN (model.py)

class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.InstanceNorm2d(dim, eps=EPS, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.InstanceNorm2d(dim, eps=EPS, affine=True, track_running_stats=True))

    def forward(self, x):
        return x + self.main(x)


class StarGenerator(nn.Module):
    def __init__(self, conv_dim, c_dim, repeat_num):
        super().__init__()
        inorm = lambda d: nn.InstanceNorm2d(d, eps=EPS, affine=True, track_running_stats=True)
        layers = [nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False), inorm(conv_dim), nn.ReLU(inplace=True)]
        d = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), inorm(d * 2), nn.ReLU(inplace=True)]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False), inorm(d // 2), nn.ReLU(inplace=True)]
            d //= 2
        layers += [nn.Conv2d(d, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        c = c.view(c.size(0), c.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class StarDiscriminator(nn.Module):
    def __init__(self, image_size, conv_dim, c_dim, repeat_num):
        super().__init__()
        layers = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(SLOPE_001)]
        d = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1), nn.LeakyReLU(SLOPE_001)]
            d *= 2
        k = int(image_size / np.power(2, repeat_num))
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(d, c_dim, k, bias=False)

    def forward(self, x):
        h = self.main(x)
        return self.conv1(h), self.conv2(h).view(x.size(0), -1)


# MARK: Fixtures

def tensor64(t):
    a = np.ascontiguousarray(t.detach().numpy().astype("<f8"))
    return {"shape": list(a.shape), "dtype": "f64", "base64": base64.b64encode(a.tobytes()).decode()}


def formula_weights(net):
    with torch.no_grad():
        for k, (name, p) in enumerate(net.named_parameters()):
            n = p.numel()
            s = [math.sin(0.731 * i + 0.5 * k + 0.1) for i in range(n)]
            if name.endswith("bias"):
                v = [0.2 * x for x in s]
            elif p.dim() >= 2:
                scale = 1.5 / math.sqrt(n / p.shape[0])
                v = [x * scale for x in s]
            else:
                v = [1 + 0.2 * x for x in s]
            p.copy_(torch.tensor(v).view(p.shape))


def formula_input(shape):
    n = int(np.prod(shape))
    return torch.tensor([0.9 * math.sin(0.377 * i + 0.2) for i in range(n)]).view(shape)


def state_keys(net):
    params = {name for name, _ in net.named_parameters()}
    return [[k, list(v.shape), k in params] for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]


def trainable_count(net):
    return sum(p.numel() for p in net.parameters())


def variant(name, net, input_shape, mode="train", condition=None, gradient=False):
    formula_weights(net)
    net.train(mode == "train")
    x = formula_input(input_shape).requires_grad_(gradient)
    with torch.set_grad_enabled(gradient):
        out = net(x) if condition is None else net(x, torch.tensor(condition))
    entry = {"name": name, "mode": mode, "input_shape": list(input_shape), "keys": state_keys(net),
             "parameter_count": trainable_count(net)}
    if gradient:
        r = torch.tensor([math.cos(0.917 * i) for i in range(out.numel())]).view(out.shape)
        (out * r).sum().backward()
        entry["dx"] = tensor64(x.grad)
    if isinstance(out, tuple):
        entry["outputs"] = [tensor64(o) for o in out]
    else:
        entry["outputs"] = [tensor64(out)]
    if condition is not None:
        entry["condition"] = condition
    if mode == "train":
        entry["running"] = {k: tensor64(v) for k, v in net.state_dict().items()
                            if (k.endswith("running_mean") or k.endswith("running_var"))
                            and isinstance(dict(net.named_modules())[k.rsplit(".", 1)[0]], nn.BatchNorm2d)}
    return entry


def main():
    torch.manual_seed(0)
    variants = [
        variant("unet_32 batch", UnetGenerator(3, 3, 5, 4, "batch", False), (2, 3, 32, 32), gradient=True),
        variant("unet_32 instance", UnetGenerator(3, 3, 5, 4, "instance", False), (2, 3, 32, 32), gradient=True),
        variant("unet_64 batch dropout eval", UnetGenerator(3, 2, 6, 2, "batch", True), (1, 3, 64, 64), mode="eval"),
        variant("resnet_6blocks instance", ResnetGenerator(3, 3, 4, "instance", False, 6), (2, 3, 16, 16), gradient=True),
        variant("resnet_6blocks batch dropout eval", ResnetGenerator(3, 3, 4, "batch", True, 6), (1, 3, 16, 16),
                mode="eval"),
        variant("basic batch", NLayerDiscriminator(6, 4, 3, "batch"), (2, 6, 32, 32), gradient=True),
        variant("basic none", NLayerDiscriminator(6, 4, 3, "none"), (2, 6, 32, 32)),
        variant("n_layers 1 instance", NLayerDiscriminator(6, 4, 1, "instance"), (2, 6, 16, 16)),
        variant("pixel batch", PixelDiscriminator(6, 4, "batch"), (2, 6, 8, 8)),
        variant("stargan G", StarGenerator(4, 3, 2), (2, 3, 32, 32), condition=[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
                gradient=True),
        variant("stargan D", StarDiscriminator(32, 4, 3, 4), (2, 3, 32, 32)),
    ]
    with open(os.path.join(FIXTURES, "translation_networks.json"), "w") as f:
        json.dump({"variants": variants}, f)

    # Full size (float32 modules; only counted).
    torch.set_default_dtype(torch.float32)
    counts = {}
    for norm in ("batch", "instance"):
        counts[f"unet_256 {norm}"] = trainable_count(UnetGenerator(3, 3, 8, 64, norm, True))
        counts[f"unet_128 {norm}"] = trainable_count(UnetGenerator(3, 3, 7, 64, norm, True))
        counts[f"resnet_9blocks {norm}"] = trainable_count(ResnetGenerator(3, 3, 64, norm, False, 9))
        counts[f"resnet_6blocks {norm}"] = trainable_count(ResnetGenerator(3, 3, 64, norm, False, 6))
        counts[f"basic 6ch {norm}"] = trainable_count(NLayerDiscriminator(6, 64, 3, norm))
        counts[f"basic 3ch {norm}"] = trainable_count(NLayerDiscriminator(3, 64, 3, norm))
        counts[f"pixel 6ch {norm}"] = trainable_count(PixelDiscriminator(6, 64, norm))
    counts["stargan G c5"] = trainable_count(StarGenerator(64, 5, 6))
    counts["stargan D 128 c5"] = trainable_count(StarDiscriminator(128, 64, 5, 6))
    with open(os.path.join(FIXTURES, "translation_parameter_counts.json"), "w") as f:
        json.dump(counts, f, indent=1, sort_keys=True)
    for k, v in sorted(counts.items()):
        print(f"{k:28s} {v:>12,d}")


if __name__ == "__main__":
    main()
