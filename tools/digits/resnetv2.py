"""tinyv2 and ResNet50V2 (tf.keras.applications resnet_v2) as trainable PyTorch modules.

Layer by layer what models/tinyv2.rn and models/resnet50v2.rn build (models/lib/resnet.rn:
block2/stack2, pre-activation), with Keras's layer names, BatchNormalization epsilon 1.001e-5,
every strided or 3x3 conv an explicit symmetric ZeroPadding2D + 'valid' conv, the stem's max pool
padded with zeros. Taken, reduced to what training needs, from the team's reference harness
(shared/ref/keras_resnet.py). Weights are saved as safetensors named as rnc reads them:
`<layer>/<param>`, Conv2D kernels HWIO, Dense kernels [in, out].
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1.001e-5  # every BatchNormalization in keras resnet_v2.py
MODELS = ('tinyv2', 'resnet50v2')


def block2(b, x, filters, name, stride=1, conv_shortcut=False):
    preact = b.relu(b.bn(x, name + '_preact_bn'))
    if conv_shortcut:
        sc = b.conv(preact, name + '_0_conv', 4 * filters, 1, stride)
    else:
        sc = b.maxpool(x, 1, stride) if stride > 1 else x
    x = b.relu(b.bn(b.conv(preact, name + '_1_conv', filters, 1, 1, bias=False), name + '_1_bn'))
    # ZeroPadding2D(((1, 1), (1, 1))) + Conv2D(3, strides=stride, padding='valid', use_bias=False)
    x = b.relu(b.bn(b.conv(x, name + '_2_conv', filters, 3, stride, pad=1, bias=False), name + '_2_bn'))
    x = b.conv(x, name + '_3_conv', 4 * filters, 1)
    return b.add(sc, x)


def stack2(b, x, filters, blocks, name, stride1=2):
    x = block2(b, x, filters, name + '_block1', conv_shortcut=True)
    for i in range(2, blocks):
        x = block2(b, x, filters, f'{name}_block{i}')
    return block2(b, x, filters, f'{name}_block{blocks}', stride=stride1)


def build(b, x, model, classes):
    if model == 'tinyv2':
        x = b.conv(x, 'conv1_conv', 16, 3, 1, pad=1)  # conv1_pad (1) + valid 3x3, bias
        x = stack2(b, x, 8, 2, 'conv2', stride1=2)
        x = stack2(b, x, 16, 2, 'conv3', stride1=1)
    elif model == 'resnet50v2':
        x = b.conv(x, 'conv1_conv', 64, 7, 2, pad=3)  # conv1_pad (3) + valid 7x7/2, bias
        x = b.maxpool(b.zeropad(x, 1), 3, 2)  # pool1_pad pads with ZEROS, then a valid max pool
        for i, (f, n) in enumerate(zip([64, 128, 256, 512], [3, 4, 6, 3])):
            x = stack2(b, x, f, n, f'conv{i + 2}', stride1=1 if i == 3 else 2)
    else:
        raise ValueError(f'unknown model {model!r}, want one of {MODELS}')
    x = b.relu(b.bn(x, 'post_bn'))
    return b.dense(b.gap(x), 'predictions', classes)  # logits; softmax in predict()


class _Layers:
    """A builder that records the layers build() creates, with their input channels."""

    def __init__(self):
        self.layers = []

    def conv(self, c, name, cout, k, stride=1, pad=0, bias=True):
        self.layers.append((name, nn.Conv2d(c, cout, k, stride, pad, bias=bias)))
        return cout

    def bn(self, c, name):
        self.layers.append((name, nn.BatchNorm2d(c, eps=EPS)))
        return c

    def dense(self, c, name, units):
        self.layers.append((name, nn.Linear(c, units)))
        return units

    def zeropad(self, c, p):
        return c

    def maxpool(self, c, k, s):
        return c

    def add(self, a, b):
        assert a == b, (a, b)
        return a

    def relu(self, c):
        return c

    def gap(self, c):
        return c


class _Exec:
    """A builder that runs build() on NCHW tensors with the modules of a KerasResNetV2."""

    def __init__(self, mods):
        self.m = mods

    def conv(self, x, name, cout, k, stride=1, pad=0, bias=True):
        return self.m[name](x)  # symmetric padding = Keras's ZeroPadding2D + 'valid'

    def bn(self, x, name):
        return self.m[name](x)

    def dense(self, x, name, units):
        return self.m[name](x)

    def zeropad(self, x, p):
        return F.pad(x, (p, p, p, p))

    def maxpool(self, x, k, s):
        return F.max_pool2d(x, k, s)

    def add(self, a, b):
        return a + b

    def relu(self, x):
        return F.relu(x)

    def gap(self, x):
        return x.mean((2, 3))


class KerasResNetV2(nn.Module):
    """model(x) takes NHWC float32 images, preprocessed ('tf': x/127.5 - 1), and returns logits."""

    def __init__(self, model, classes):
        super().__init__()
        self.model, self.classes = model, classes
        rec = _Layers()
        build(rec, 3, model, classes)
        self.order = [n for n, _ in rec.layers]  # Keras's layer creation order
        self.mods = nn.ModuleDict(rec.layers)

    def forward(self, x):
        return build(_Exec(self.mods), x.permute(0, 3, 1, 2), self.model, self.classes)

    def keras_weights(self):
        """The weights in Keras's names and layouts, float32 numpy, in Keras's order."""
        out = {}
        for n in self.order:
            m = self.mods[n]
            a = lambda t: t.detach().cpu().numpy().astype(np.float32)
            if isinstance(m, nn.Conv2d):
                out[n + '/kernel'] = a(m.weight).transpose(2, 3, 1, 0)  # OIHW -> HWIO
                if m.bias is not None:
                    out[n + '/bias'] = a(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                out[n + '/gamma'], out[n + '/beta'] = a(m.weight), a(m.bias)
                out[n + '/moving_mean'], out[n + '/moving_variance'] = a(m.running_mean), a(m.running_var)
            else:
                out[n + '/kernel'], out[n + '/bias'] = a(m.weight).T, a(m.bias)
        return out

    def load_keras_weights(self, w):
        """The inverse of keras_weights."""
        t = lambda v: torch.from_numpy(np.array(v, dtype=np.float32))
        with torch.no_grad():
            for n in self.order:
                m = self.mods[n]
                if isinstance(m, nn.Conv2d):
                    m.weight.copy_(t(w[n + '/kernel'].transpose(3, 2, 0, 1)))
                    if m.bias is not None:
                        m.bias.copy_(t(w[n + '/bias']))
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.copy_(t(w[n + '/gamma']))
                    m.bias.copy_(t(w[n + '/beta']))
                    m.running_mean.copy_(t(w[n + '/moving_mean']))
                    m.running_var.copy_(t(w[n + '/moving_variance']))
                else:
                    m.weight.copy_(t(w[n + '/kernel'].T))
                    m.bias.copy_(t(w[n + '/bias']))


def save_safetensors(path, tensors, metadata=None):
    header, off, blobs = {}, 0, []
    for k, v in tensors.items():
        v = np.ascontiguousarray(v, dtype='<f4')
        header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [off, off + v.nbytes]}
        off += v.nbytes
        blobs.append(v)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for v in blobs:
            f.write(v.tobytes())


def load_safetensors(path):
    with open(path, 'rb') as f:
        buf = f.read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    for k, d in header.items():
        assert d['dtype'] == 'F32', d
        a, b = d['data_offsets']
        out[k] = np.frombuffer(buf, '<f4', (b - a) // 4, 8 + n + a).reshape(d['shape'])
    return out, meta
