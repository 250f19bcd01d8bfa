"""Writes the PyTorch checkpoints runtime/pytorch's tests read.

Run with /usr/bin/python3 (torch installed) from the repository root:

    /usr/bin/python3 tools/pytorch/fixtures.py

For each checkpoint NAME.pth (written by torch.save, the zip format) it
writes NAME.expected.safetensors: the float32 values rnc must read, under
rnc's names and in rnc's layouts (conv kernels HWIO, Linear kernels
[in, out]), so that the Go tests compare exactly without Python.
"""
import collections
import json
import os
import struct

import numpy
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "runtime", "pytorch", "testdata")


def write_safetensors(path, tensors):
    """A minimal safetensors writer, so no extra package is needed: float32
    as F32, and the torch dtypes timm's files hold as they are."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype in (torch.bfloat16, torch.float16):
            b = t.view(torch.int16).numpy().astype("<i2").tobytes()
            dtype = "BF16" if t.dtype == torch.bfloat16 else "F16"
        elif t.dtype == torch.int64:
            b, dtype = t.numpy().astype("<i8").tobytes(), "I64"
        else:
            b, dtype = t.to(torch.float32).numpy().astype("<f4").tobytes(), "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rnc_names(sd):
    """rnc's names and layouts for a state_dict (runtime/pytorch Map)."""
    bn = {k.rsplit(".", 1)[0] for k in sd if k.endswith(".running_mean")}
    out = collections.OrderedDict()
    for k, v in sd.items():
        mod, p = k.rsplit(".", 1)
        v = v.detach().to(torch.float32)
        if p == "num_batches_tracked":
            continue
        if p == "weight" and v.dim() == 4:
            out[mod + "/kernel"] = v.permute(2, 3, 1, 0)
        elif p == "weight" and v.dim() == 2:
            out[mod + "/kernel"] = v.t()
        elif mod in bn:
            out[mod + "/" + {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                              "running_var": "moving_variance"}[p]] = v
        else:
            out[mod + "/" + p] = v
    return out


class Tiny(torch.nn.Module):
    """conv1 (3x3, no bias), bn1, relu, global average pool, fc: cmd/rnc's
    TestPyTorchCheckpointRun writes the same network in the model language."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def save(name, sd):
    path = os.path.join(OUT, name + ".pth")
    torch.save(sd, path)
    write_safetensors(os.path.join(OUT, name + ".expected.safetensors"), rnc_names(sd))
    print("wrote", path, os.path.getsize(path), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(15)
    m = Tiny()
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-1, 1)
        m.bn1.running_var.uniform_(0.5, 2)
        m.bn1.weight.uniform_(0.5, 1.5)
        m.bn1.bias.uniform_(-0.5, 0.5)
    m.bn1.num_batches_tracked += 7
    sd = m.state_dict()
    save("tiny_f32", sd)
    # Inputs (NHWC, as rnc takes them) and PyTorch's logits.
    m.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        y = m(x)
    numpy.save(os.path.join(OUT, "tiny_input.npy"), x.permute(0, 2, 3, 1).contiguous().numpy())
    numpy.save(os.path.join(OUT, "tiny_logits.npy"), y.numpy())
    for dt, name in ((torch.float16, "tiny_f16"), (torch.bfloat16, "tiny_bf16")):
        half = collections.OrderedDict(
            (k, v if k.endswith("num_batches_tracked") else v.to(dt)) for k, v in sd.items())
        save(name, half)
        # The same state_dict as timm and Hugging Face publish it: safetensors
        # with PyTorch's names (num_batches_tracked an I64), read by rnc as
        # the checkpoint is (its expected values are the .pth's).
        write_safetensors(os.path.join(OUT, name + ".torchnames.safetensors"), half)

    # Views saved as they are: a transposed (non-contiguous) Linear weight,
    # a slice of a conv weight (a storage offset), a strided bias.
    big = torch.randn(4, 3, 2, 2)
    vec = torch.randn(10)
    lin = torch.randn(6, 5)  # [in, out]: its transpose is the [out, in] weight
    sd = collections.OrderedDict()
    sd["head.weight"] = lin.t()
    sd["head.bias"] = vec[1::2]
    sd["body.0.weight"] = big[1:3]
    sd["body.0.bias"] = vec[0:2]
    assert not sd["head.weight"].is_contiguous() and sd["body.0.weight"].storage_offset() > 0
    save("strided", sd)

    # Tensors sharing one storage: written once.
    base = torch.randn(40)
    sd = collections.OrderedDict()
    sd["x.weight"] = base[:20].view(4, 5)
    sd["x.bias"] = base[20:24]
    sd["y.bias"] = base[30:34]
    save("shared", sd)

    # Parameters rather than tensors (a dict of model.named_parameters()):
    # pickled through torch._utils._rebuild_parameter.
    sd = collections.OrderedDict()
    sd["fc.weight"] = torch.nn.Parameter(torch.randn(3, 2))
    sd["fc.bias"] = torch.nn.Parameter(torch.randn(3))
    save("param", sd)

    # The legacy (pre-1.6) format, which rnc refuses with a clear message.
    torch.save(collections.OrderedDict(b=torch.ones(2)), os.path.join(OUT, "legacy.pth"),
               _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
