#!/usr/bin/python3
"""Train tinyv2 or ResNet50V2 on scikit-learn's digits, upsampled to 32x32 RGB; write rnc's test data.

    /usr/bin/python3 tools/digits/train.py --model tinyv2 --out testdata/digits
    /usr/bin/python3 tools/digits/train.py --model resnet50v2 --out /tmp/digits50 --epochs 10

Needs Debian's python3-torch, python3-sklearn and python3-numpy (not PyPI).

The data. sklearn.datasets.load_digits: 1797 8x8 images, values 0..16 (16 = ink). Each image is
upsampled to 32x32 by bilinear interpolation with half-pixel centres and clamped edges (what
PyTorch's interpolate(mode='bilinear', align_corners=False) computes; an exact 4x upsample),
scaled to 0..255 (v * 255/16), rounded to integers (so it is an 8-bit picture) and repeated
in R, G and B: white digits on black. The model input is that picture in the convention
models/tinyv2.rn and models/resnet50v2.rn declare, Input(..., preprocessing = "tf"): x/127.5 - 1
in float32, NHWC, which is what `rnc run --input X.npy` takes (rnc applies the declared
preprocessing only to PNG/JPEG/GIF pictures, never to a tensor).

The split (fixed; --split-seed): per class, a seeded permutation gives --test/10 test images;
the rest is the training set, of which --calib/10 images per class are also the calibration
set (int8 calibration reads training data, never test data). Images keep the dataset's order.

Written to --out: calib_inputs.npy [C,32,32,3] and test_inputs.npy [T,32,32,3] float32 (the
preprocessed model input), calib_labels.npy and test_labels.npy float32 [N] (class 0..9; float
so rnc's .npy reader reads them), MODEL_digits.safetensors (rnc's names: <layer>/<param>,
Conv2D kernels HWIO) and MODEL_test_probs.npy [T,10] (PyTorch's softmax on the test inputs).
"""
import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the script in the source tree

import numpy as np
import torch
import torch.nn.functional as F

from resnetv2 import MODELS, KerasResNetV2, save_safetensors

HW, CLASSES = 32, 10


def upsample_matrix(n_in, n_out):
    """[n_out, n_in] bilinear weights, half-pixel centres, edges clamped (align_corners=False)."""
    a = np.zeros((n_out, n_in))
    for i in range(n_out):
        s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(s)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        a[i, i0] += 1 - (s - i0)
        a[i, i1] += s - i0
    return a


def pictures(x8):
    """[N,8,8] digits 0..16 -> [N,32,32,3] RGB pixel values 0..255 (integers, float32)."""
    a = upsample_matrix(8, HW)
    up = np.einsum('ij,njk,lk->nil', a, x8.astype(np.float64) * (255.0 / 16.0), a)
    p = np.clip(np.rint(up), 0, 255).astype(np.float32)
    return np.repeat(p[..., None], 3, axis=3)


def preprocess(p):
    """Keras's preprocess_input mode 'tf' in float32, as rnc's runtime computes it: x/127.5 - 1."""
    return (p.astype(np.float32) / np.float32(127.5) - np.float32(1)).astype(np.float32)


def split(y, n_test, n_calib, seed):
    """Per class, a seeded permutation: the first n_test/10 are test, the next n_calib/10 calibration."""
    if n_test % CLASSES or n_calib % CLASSES:
        raise SystemExit(f'--test and --calib must be multiples of {CLASSES}')
    rng = np.random.default_rng(seed)
    test, calib = [], []
    for c in range(CLASSES):
        idx = rng.permutation(np.flatnonzero(y == c))
        test += list(idx[:n_test // CLASSES])
        calib += list(idx[n_test // CLASSES:(n_test + n_calib) // CLASSES])
    test, calib = np.sort(test), np.sort(calib)
    train = np.setdiff1d(np.arange(len(y)), test)  # calibration images are training images
    return train, calib, test


def augment(p, gen):
    """Random affine jitter of pixel images [N,32,32,3] (rotation +-10 degrees, scale 0.9..1.1,
    shift +-3 pixels), bilinear, background 0."""
    n = p.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)
    ang, sc = u(-10, 10) * np.pi / 180, u(0.9, 1.1)
    tx, ty = u(-3, 3) * 2 / HW, u(-3, 3) * 2 / HW
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    x = p.permute(0, 3, 1, 2)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False).permute(0, 2, 3, 1)


def predict(net, x, batch=100):
    net.eval()
    with torch.no_grad():
        return torch.cat([F.softmax(net(torch.from_numpy(x[i:i + batch])), 1)
                          for i in range(0, len(x), batch)]).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', choices=MODELS, default='tinyv2')
    ap.add_argument('--out', required=True, help='directory for the data, weights and PyTorch outputs')
    ap.add_argument('--epochs', type=int, default=60)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=3e-3, help='peak learning rate (AdamW, one-cycle)')
    ap.add_argument('--weight-decay', type=float, default=1e-4)
    ap.add_argument('--seed', type=int, default=1, help='training seed (initialization, shuffling, augmentation)')
    ap.add_argument('--split-seed', type=int, default=0)
    ap.add_argument('--test', type=int, default=200, help='test images (a multiple of 10)')
    ap.add_argument('--calib', type=int, default=30, help='calibration images, from the training set (a multiple of 10)')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()

    from sklearn.datasets import load_digits  # Debian python3-sklearn ships the data set
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    d = load_digits()
    x8, y = d.images, d.target.astype(np.int64)
    pix = pictures(x8)
    train, calib, test = split(y, args.test, args.calib, args.split_seed)
    print(f'digits: {len(y)} images; train {len(train)} (calibration {len(calib)} of them), test {len(test)}')

    os.makedirs(args.out, exist_ok=True)
    x_test, x_calib = preprocess(pix[test]), preprocess(pix[calib])
    np.save(os.path.join(args.out, 'test_inputs.npy'), x_test)
    np.save(os.path.join(args.out, 'test_labels.npy'), y[test].astype(np.float32))
    np.save(os.path.join(args.out, 'calib_inputs.npy'), x_calib)
    np.save(os.path.join(args.out, 'calib_labels.npy'), y[calib].astype(np.float32))

    net = KerasResNetV2(args.model, CLASSES)
    print(f'{args.model}: {sum(p.numel() for p in net.parameters())} trainable parameters')
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = (len(train) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, epochs=args.epochs, steps_per_epoch=steps)
    p_train, y_train = torch.from_numpy(pix[train]), torch.from_numpy(y[train])
    for ep in range(args.epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(train), generator=gen)
        total = 0.0
        for s in range(steps):
            i = perm[s * args.batch:(s + 1) * args.batch]
            xb = augment(p_train[i], gen) / 127.5 - 1
            loss = F.cross_entropy(net(xb), y_train[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(i)
        dt = time.perf_counter() - t0
        acc = (predict(net, x_test).argmax(1) == y[test]).mean()
        print(f'epoch {ep + 1}/{args.epochs}: loss {total / len(train):.4f}, test top-1 {100 * acc:.2f}%, {dt:.1f} s')

    probs = predict(net, x_test)
    correct = int((probs.argmax(1) == y[test]).sum())
    print(f'PyTorch float32 test top-1: {correct}/{len(test)} = {100 * correct / len(test):.2f}%')
    w = net.keras_weights()
    meta = dict(model=args.model, classes=CLASSES, input_hw=HW, format='keras-names,HWIO,NHWC',
                data='sklearn digits, bilinear 8->32, RGB 0..255, preprocessing tf',
                seed=args.seed, split_seed=args.split_seed, epochs=args.epochs)
    save_safetensors(os.path.join(args.out, f'{args.model}_digits.safetensors'), w, meta)
    np.save(os.path.join(args.out, f'{args.model}_test_probs.npy'), probs.astype(np.float32))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
