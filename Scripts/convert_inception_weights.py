#!/opt/torchenv/bin/python
"""Converts pytorch-fid's Inception weights to safetensors for Kallima.

    python Scripts/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth inception.safetensors

Input: the state dict pytorch-fid downloads for its FID Inception
(https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth;
also in ~/.cache/torch/hub/checkpoints/ once pytorch-fid has run). This script never downloads it.
Output: the same tensors as float32 safetensors under the same names
(Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.weight/bias/running_mean/running_var, ...,
Mixed_7c.branch_pool.bn.running_var, fc.weight, fc.bias: 472 tensors), which
`InceptionV3(backend:weightsFile:)` in Sources/KallimaEval/InceptionV3.swift loads.

The file is checked like PyTorch's strict load_state_dict into fid_inception_v3(): every
expected name must be present with its shape, and no other name may appear (BatchNorm's
num_batches_tracked counters are dropped: Kallima's eval-mode network does not use them).
The expected names and shapes come from pytorch-fid's own module tree (built without
weights), so `pip install pytorch-fid` first; it needs torch, torchvision and safetensors.
Exit status 1 with a message naming each problem otherwise.
"""

import argparse
import sys

import torch
from safetensors.torch import save_file


def expected_shapes():
    """name -> shape of fid_inception_v3().state_dict(), built without downloading weights."""
    from pytorch_fid import inception as fid

    net = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def load_state_dict(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any unreadable file the same way
        sys.exit(f"error: cannot read {path} as a PyTorch state dict: {e}")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        sys.exit(f"error: {path} holds a {type(state).__name__}, not a state dict (name -> tensor)")
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pth", help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid's FID Inception weights)")
    parser.add_argument("out", help="output .safetensors path")
    args = parser.parse_args()

    state = load_state_dict(args.pth)
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    expected = expected_shapes()

    problems = []
    missing = [k for k in expected if k not in state]
    if missing:
        problems.append(f"{len(missing)} missing: " + ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else ""))
    for k, shape in expected.items():
        if k in state and tuple(state[k].shape) != shape:
            problems.append(f"{k} is {list(state[k].shape)}, expected {list(shape)}")
    unexpected = sorted(k for k in state if k not in expected)
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: " + ", ".join(unexpected[:8])
                        + (", ..." if len(unexpected) > 8 else ""))
    for k in expected:
        if k in state and not torch.is_tensor(state[k]):
            problems.append(f"{k} is a {type(state[k]).__name__}, not a tensor")
    if problems:
        hint = ""
        if any(k.startswith("AuxLogits.") for k in unexpected):
            hint = ("\nAuxLogits.* means torchvision's ImageNet Inception, not pytorch-fid's FID Inception; "
                    "use pt_inception-2015-12-05-6726825d.pth.")
        sys.exit(f"error: {args.pth} is not pytorch-fid's FID Inception state dict:\n  "
                 + "\n  ".join(problems) + hint)

    tensors = {k: state[k].detach().to(torch.float32).contiguous() for k in expected}
    for k, t in tensors.items():
        if not torch.isfinite(t).all():
            sys.exit(f"error: {k} holds non-finite values; the file is damaged")
    save_file(tensors, args.out, metadata={
        "source": args.pth.split("/")[-1],
        "format": "pytorch-fid FID Inception (fid_inception_v3) state dict, float32",
    })
    count = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.out}: {len(tensors)} tensors, {count} parameters")


if __name__ == "__main__":
    main()
