#!/opt/torchenv/bin/python
"""Converts a generator trained by the reference implementations into a checkpoint that
`kallima translate` reads:

  pix2pix / CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix): latest_net_G.pth,
      latest_net_G_A.pth or latest_net_G_B.pth (a state dict of networks.py's generator);
  StarGAN (yunjey/stargan): 200000-G.ckpt (a state dict of model.py's Generator).

Kallima's translation networks carry the reference's state-dict names, so the conversion is
a rename ("model.model.0.weight" -> "G.model.model.0.weight") plus the metadata that tells
Kallima which network to build. num_batches_tracked is dropped (Kallima does not keep it).

    convert_reference_checkpoint.py latest_net_G.pth facades.safetensors --method pix2pix --net-g unet_256 --size 256
    convert_reference_checkpoint.py latest_net_G_A.pth h2z.safetensors --method cyclegan --net-g resnet_9blocks \
        --norm instance --direction AtoB
    convert_reference_checkpoint.py 200000-G.ckpt celeba.safetensors --method stargan --size 128 \
        --labels Black_Hair,Blond_Hair,Brown_Hair,Male,Young
    kallima translate --checkpoint facades.safetensors --input photos/ --out out/ [--eval]

--self-test builds a random unet_32 and a random resnet_6blocks in PyTorch, converts them,
runs `kallima translate --eval` (KALLIMA, default .build/debug/kallima) on a PNG and compares
with PyTorch's output (eval mode) to within the 8-bit rounding of the written PNG.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    os.replace(path + ".tmp", path)


def convert(state, out, method, net_g, size, ngf, norm, dropout, channels_in, channels_out, direction, labels):
    if method == "stargan":
        store, options = "G", {"method": "stargan", "size": size, "ngf": ngf}
    else:
        store = "G" if method == "pix2pix" else ("G_A" if direction == "AtoB" else "G_B")
        options = {"method": method, "size": size, "netG": net_g, "ngf": ngf, "norm": norm, "dropout": dropout}
    # CycleGAN's G_B maps B to A: its input is the B side.
    a, b = (channels_in, channels_out) if store != "G_B" else (channels_out, channels_in)
    training = {"iterations": 0, "targetIterations": 0, "data": "converted", "epochImages": 1, "channelsA": a, "channelsB": b}
    metadata = {"format": "kallima-translation-1", "method": method, "options": json.dumps(options), "training": json.dumps(training)}
    if labels:
        metadata["labels"] = json.dumps({"kind": "tags", "names": [n.lower() for n in labels], "width": len(labels)})
    tensors = {f"{store}.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    write_safetensors(out, tensors, metadata)
    return len(tensors)


def self_test():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_translation_network_fixtures as nets
    from compose_columns import read_png, write_png
    torch.set_default_dtype(torch.float32)
    kallima = os.environ.get("KALLIMA", ".build/debug/kallima")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        image = (np.arange(32 * 32 * 3).reshape(32, 32, 3) * 37 % 251).astype(np.uint8)
        os.makedirs(f"{tmp}/in")
        write_png(f"{tmp}/in/x.png", [[tuple(int(v) for v in image[y, x]) for x in range(32)] for y in range(32)])
        x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1).unsqueeze(0)
        cases = [("pix2pix", "unet_32", nets.UnetGenerator(3, 3, 5, 8, "batch", True), "batch", "AtoB"),
                 ("cyclegan", "resnet_6blocks", nets.ResnetGenerator(3, 3, 8, "instance", False, 6), "instance", "BtoA")]
        for method, name, net, norm, direction in cases:
            with torch.no_grad():
                for m in net.modules():  # non-trivial running statistics, so eval mode reads them
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.running_mean.uniform_(-0.1, 0.1)
                        m.running_var.uniform_(0.5, 1.5)
            net = net.float().eval()
            path = f"{tmp}/{method}.safetensors"
            convert(net.state_dict(), path, method, name, 32, 8, norm, method == "pix2pix", 3, 3, direction, None)
            subprocess.run([kallima, "translate", "--checkpoint", path, "--input", f"{tmp}/in", "--out", f"{tmp}/{method}",
                            "--eval", "--direction", direction], check=True, capture_output=True)
            ours = np.array(read_png(f"{tmp}/{method}/x.png"), dtype=np.float64)
            with torch.no_grad():
                theirs = ((net(x)[0].permute(1, 2, 0).double().numpy() + 1) * 127.5).clip(0, 255)
            err = np.abs(ours - theirs).max()
            worst = max(worst, err)
            print(f"{method} {name}: max |kallima - pytorch| = {err:.3f} of 255 (the PNG rounds to 0.5)")
            assert err <= 0.51, err
    print("self-test passed; worst", worst)


def main():
    if "--self-test" in sys.argv:
        return self_test()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--method", required=True, choices=["pix2pix", "cyclegan", "stargan"])
    p.add_argument("--net-g", default=None, help="unet_256 … resnet_9blocks (pix2pix, cyclegan)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--norm", default=None, help="batch or instance (default: pix2pix batch, cyclegan instance)")
    p.add_argument("--no-dropout", action="store_true", help="the G was built with --no_dropout (pix2pix default: dropout)")
    p.add_argument("--input-nc", type=int, default=3)
    p.add_argument("--output-nc", type=int, default=3)
    p.add_argument("--direction", default="AtoB", help="CycleGAN: AtoB for G_A, BtoA for G_B")
    p.add_argument("--labels", default=None, help="StarGAN: the selected attributes, comma-separated, in training order")
    a = p.parse_args()
    state = torch.load(a.input, map_location="cpu", weights_only=True)
    if a.method == "stargan" and not a.labels:
        p.error("StarGAN needs --labels (its --selected_attrs)")
    norm = a.norm or ("batch" if a.method == "pix2pix" else "instance")
    net_g = a.net_g or ("unet_%d" % a.size if a.method == "pix2pix" else "resnet_9blocks")
    dropout = a.method == "pix2pix" and not a.no_dropout
    n = convert(state, a.output, a.method, net_g, a.size, a.ngf, norm, dropout, a.input_nc, a.output_nc, a.direction,
                a.labels.split(",") if a.labels else None)
    print(f"wrote {n} tensors to {a.output}")


if __name__ == "__main__":
    main()
