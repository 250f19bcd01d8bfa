#!/usr/bin/python3
"""PyTorch's reference outputs for rnc's models/torchvision (issue 15).

Builds each model with torchvision's own classes, fills every parameter
AND every BatchNorm running statistic from a seeded, portable generator (so
BN is not the identity), puts the model in eval mode and writes, under
--out:

  input_HxW.npy       NHWC float32 input of --batch images, seeded, on the
                      scale of normalized images
  M.logits.npy        torchvision's logits for that input, [batch, classes]
                      (computed in float64 by the same modules, then
                      rounded to float32: the float32 forward's own error is
                      printed, not stored)
  M.safetensors       with --safetensors: the state_dict under rnc's names
                      and layouts (conv weight OIHW -> A/kernel HWIO, BN
                      weight/bias/running_mean/running_var -> A/gamma, beta,
                      moving_mean, moving_variance, fc.weight -> fc/kernel
                      [in, out], fc.bias -> fc/bias)
  M.pth               with --pth: torch.save(model.state_dict()), PyTorch's
                      own names and layouts

The generator needs no file: tensor T of the state_dict (PyTorch's key and
layout), element k (row-major), is

  z = splitmix64(base(T) + (k + 1) * 0x9E3779B97F4A7C15)   (mod 2^64)
  base(T) = seed * 0x9E3779B97F4A7C15 XOR fnv1a64(T's key)
  u = (z >> 40) / 2^24                                     (in [0, 1))
  value = float32(lo + (hi - lo) * u)                       (float64, then rounded once)

with [lo, hi] per tensor (b = sqrt(6 / fan_in) for convolutions, 1/sqrt(in)
for fc): conv weight [-b, b]; BN weight [0.5, 1.5], or [0.1, 0.3] for the
BN that closes a residual branch (bn2 of a BasicBlock, bn3 of a
Bottleneck), so the residual stream grows slowly; BN bias and running_mean
[-0.2, 0.2]; running_var [0.5, 1.5]; fc weight and bias [-1/sqrt(in),
1/sqrt(in)]. cmd/rnc's TestTorchvisionLogits implements the same
generator in Go, so the committed fixtures are only the input and the
logits (testdata/torchvision/).

usage: /usr/bin/python3 tools/pytorch/reference.py --out testdata/torchvision
           [--models resnet18,resnet50] [--size 64] [--batch 2] [--seed 1]
           [--safetensors] [--pth] [--no-logits]
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torchvision

MODELS = {
    # name: the BN that closes each block's residual branch
    "resnet18": "bn2",
    "resnet34": "bn2",
    "resnet50": "bn3",
    "resnet101": "bn3",
    "resnet152": "bn3",
    "wide_resnet50_2": "bn3",
    "wide_resnet101_2": "bn3",
    "resnext50_32x4d": "bn3",
    "resnext101_32x8d": "bn3",
    "resnext101_64x4d": "bn3",
}

GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h ^= c
        h = (h * 0x100000001B3) & MASK
    return h


def uniforms(key, n, seed):
    """u in [0, 1) for elements 0..n-1 of tensor key (see the module doc)."""
    base = np.uint64(((seed * GOLDEN) & MASK) ^ fnv1a64(key))
    with np.errstate(over="ignore"):
        k = np.arange(1, n + 1, dtype=np.uint64)
        z = base + k * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def value_range(key, shape, closing_bn, fc_in):
    """[lo, hi] of state_dict tensor key (PyTorch's name and shape)."""
    parts = key.split(".")
    module, field = parts[-2] if len(parts) > 1 else "", parts[-1]
    if len(shape) == 4:
        b = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
        return -b, b
    if module == "fc":
        return -1 / math.sqrt(fc_in), 1 / math.sqrt(fc_in)
    if field == "weight":  # a BatchNorm2d's gamma
        return (0.1, 0.3) if module == closing_bn else (0.5, 1.5)
    if field in ("bias", "running_mean"):
        return -0.2, 0.2
    if field == "running_var":
        return 0.5, 1.5
    raise ValueError("no value range for %s %s" % (key, shape))


def fill(model, closing_bn, seed):
    sd = model.state_dict()
    fc_in = sd["fc.weight"].shape[1]
    new = {}
    for key, t in sd.items():
        if key.endswith("num_batches_tracked"):
            new[key] = t
            continue
        lo, hi = value_range(key, tuple(t.shape), closing_bn, fc_in)
        u = uniforms(key, t.numel(), seed)
        v = (lo + (hi - lo) * u).astype(np.float32)
        new[key] = torch.from_numpy(v.reshape(tuple(t.shape)))
    model.load_state_dict(new)


def rnc_tensors(sd):
    """The state_dict under rnc's names and layouts, in state_dict order."""
    out = []
    for key, t in sd.items():
        if key.endswith("num_batches_tracked"):
            continue
        a = t.detach().numpy().astype(np.float32)
        mod, field = key.rsplit(".", 1)
        if a.ndim == 4:
            out.append((mod + "/kernel", a.transpose(2, 3, 1, 0)))
        elif a.ndim == 2:
            out.append((mod + "/kernel", a.transpose(1, 0)))
        elif mod == "fc":
            out.append((mod + "/bias", a))
        else:
            name = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                    "running_var": "moving_variance"}[field]
            out.append((mod + "/" + name, a))
    return out


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    for name, a in tensors:
        n = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--safetensors", action="store_true")
    p.add_argument("--pth", action="store_true")
    p.add_argument("--no-logits", action="store_true")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)

    rs = np.random.RandomState(args.seed)
    # images that differ globally (an offset per image and channel, a
    # contrast per image, a coarse 8x8 pattern) and pixel noise: i.i.d.
    # noise alone looks the same to every image after average pooling
    b, s = args.batch, args.size
    offset = rs.uniform(-1, 1, (b, 1, 1, 3))
    contrast = rs.uniform(0.5, 1.5, (b, 1, 1, 1))
    coarse = rs.standard_normal((b, 8, 8, 3)).repeat((s + 7) // 8, 1).repeat((s + 7) // 8, 2)[:, :s, :s]
    x = (offset + contrast * coarse + 0.3 * rs.standard_normal((b, s, s, 3))).astype(np.float32)
    inpath = os.path.join(args.out, "input_%dx%d.npy" % (args.size, args.size))
    if not args.no_logits:
        np.save(inpath, x)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    for name in args.models.split(","):
        if name not in MODELS:
            sys.exit("unknown model %r (want one of %s)" % (name, ", ".join(MODELS)))
        model = getattr(torchvision.models, name)()
        fill(model, MODELS[name], args.seed)
        model.eval()
        if not args.no_logits:
            with torch.no_grad():
                y32 = model(nchw).numpy()
                y64 = model.double()(nchw.double()).numpy()
                model.float()
            y = y64.astype(np.float32)
            np.save(os.path.join(args.out, name + ".logits.npy"), y)
            rel = np.abs(y32 - y64).max() / np.abs(y64).max()
            top2 = np.sort(y64, 1)[:, -2:]
            print("%s: logits %s, max |logit| %.4g, top-1 %s (margin %s), float32 forward vs float64: %.3g relative"
                  % (name, y.shape, np.abs(y64).max(), y64.argmax(1).tolist(),
                     ["%.3g" % m for m in (top2[:, 1] - top2[:, 0]) / np.abs(y64).max()], rel))
        sd = model.state_dict()
        if args.safetensors:
            meta = {"generator": "tools/pytorch/reference.py", "model": name, "seed": str(args.seed)}
            write_safetensors(os.path.join(args.out, name + ".safetensors"), rnc_tensors(sd), meta)
        if args.pth:
            torch.save(sd, os.path.join(args.out, name + ".pth"))


if __name__ == "__main__":
    main()
