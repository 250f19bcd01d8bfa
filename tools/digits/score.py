#!/usr/bin/python3
"""Score rnc's outputs on the digits test split against the labels and PyTorch's outputs.

    go run ./cmd/rnc run models/tinyv2.rn --weights testdata/digits/tinyv2_digits.safetensors \
        --input testdata/digits/test_inputs.npy --interp --out /tmp/p.npy
    /usr/bin/python3 tools/digits/score.py --data testdata/digits --model tinyv2 /tmp/p.npy

Prints the top-1 accuracy of each output file, how many top-1 classes differ from PyTorch's
(MODEL_test_probs.npy) and the largest absolute difference of the probabilities.
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True, help='directory train.py wrote (test_labels.npy, MODEL_test_probs.npy)')
    ap.add_argument('--model', default='tinyv2')
    ap.add_argument('outputs', nargs='+', help='.npy files of [T, 10] probabilities')
    args = ap.parse_args()
    y = np.load(os.path.join(args.data, 'test_labels.npy')).astype(np.int64)
    ref = np.load(os.path.join(args.data, f'{args.model}_test_probs.npy'))
    print(f'PyTorch: {int((ref.argmax(1) == y).sum())}/{len(y)} correct')
    for path in args.outputs:
        p = np.load(path).reshape(len(y), -1)
        correct = int((p.argmax(1) == y).sum())
        differ = int((p.argmax(1) != ref.argmax(1)).sum())
        print(f'{path}: {correct}/{len(y)} correct ({100 * correct / len(y):.2f}%), '
              f'top-1 differs from PyTorch on {differ}, max abs diff {np.abs(p - ref).max():.3g}')


if __name__ == '__main__':
    main()
