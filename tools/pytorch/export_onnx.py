#!/usr/bin/python3
"""Export torchvision ResNets to ONNX with rnc's input convention, for timing ONNX Runtime next to rnc.

    /usr/bin/python3 tools/pytorch/export_onnx.py --out /tmp/tv --models resnet50,resnext50_32x4d

Each model is torchvision's own class with its default (random) initialization, in eval mode,
wrapped so that its input is NHWC float32 (batch, 224, 224, 3) as rnc's models and
docs/bench/ort_time.js take it (a transpose to NCHW inside the graph, which ONNX Runtime folds
into its layout conversion), dynamic batch, opset 13; the output is the logits. Timing does not
depend on the weights. Needs Debian's python3-torch and python3-torchvision.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True

import torch
import torchvision


class NHWC(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.permute(0, 3, 1, 2))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default="resnet18,resnet50,resnext50_32x4d,wide_resnet50_2")
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(1)
    for name in args.models.split(","):
        m = NHWC(getattr(torchvision.models, name)()).eval()
        x = torch.zeros(1, args.size, args.size, 3)
        path = os.path.join(args.out, name + ".onnx")
        torch.onnx.export(m, x, path, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        print("wrote", path)


if __name__ == "__main__":
    main()
