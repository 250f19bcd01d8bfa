#!/usr/bin/python3
"""ONNX Runtime's int8 anchor for rnc's int8 ResNets (issue 14): a QDQ ONNX
model of the float ONNX export, with rnc's own scales.

How to run it (from the rnc source tree; the reference harness
../shared/ref must be set up: ../shared/ref/setup.sh installs python3-onnx,
torch and onnxruntime-node):

    P=/usr/bin/python3; R=../shared/ref; T=/tmp/ortq; mkdir -p $T
    $P $R/gen_weights.py --model resnet50v2 --seed 1 --out $T/r50v2.safetensors
    $P $R/torch_ref.py --weights $T/r50v2.safetensors --input-seed 2 --batch 8 \
        --save-input $T/cal --out $T/cal_expected --onnx $T/r50v2.onnx
    $P $R/torch_ref.py --weights $T/r50v2.safetensors --input-seed 3 --batch 8 --save-input $T/test
    go run ./cmd/rnc quantize models/resnet50v2.rn --weights $T/r50v2.safetensors \
        --calibrate $T/cal.npy -o $T/q.safetensors
    $P docs/bench/qdq.py --model models/resnet50v2.rn --float $T/r50v2.onnx \
        --quant $T/q.safetensors --calibrate $T/cal.f32 -o $T/r50v2_qdq.onnx \
        --check $T/cal.f32 $T/test.f32
    docs/bench/qdq_bench.sh $T/r50v2.onnx $T/r50v2_qdq.onnx $T/cal.f32 3 21

What it writes. The float export (torch_ref.py --onnx: Conv nodes named
/<keras layer>/Conv, the branch convs' batch norms already folded by the
exporter) gets, on every tensor rnc quantizes (every op output of rnc's
graph after its pass pipeline, docs/int8.md), a QuantizeLinear ->
DequantizeLinear pair (uint8) with rnc's out<i>_scale and out<i>_zero_point;
every conv rnc runs in int8 gets DequantizeLinear on its weights (rnc's
kernel_q, HWIO -> OIHW, int8, per output channel: kernel_scale, axis 0) and
its folded bias as int32 in units of input scale x kernel_scale (ONNX
Runtime's QDQ Conv wants an int32 bias; rnc keeps its bias in float32: the
rounding is at most half an int32 step). The stem conv and the classifier
stay float32, as in rnc. ONNX Runtime's graph optimizer then forms
QLinearConv (DQ -> Conv [-> Relu] -> Q; a Relu before a Q with zero point 0
is dropped) and QLinearAdd.

rnc's tensors are found in the ONNX graph by layer names and graph
structure, not by position: the script reads rnc's IR as expanded and after
the pass pipeline (`rnc ir MODEL` and `rnc ir MODEL --after all`, the same
target as the quantized file's), maps every expanded IR value to the ONNX
tensor holding it (a Conv by its node name, a batch norm the exporter folded
to its conv's output, a Relu, Add, MaxPool or Pad by the node that consumes
the mapped inputs), and so every output of a fused rnc op, and every int8
conv's input, to an ONNX tensor. Each int8 conv's ONNX input must be the
tensor rnc's conv reads, or the script stops.

Where ONNX Runtime needs a quantized tensor rnc does not have, the script
adds one with its OWN scale, and says so: rnc fuses the residual add (and
the 1x1/2 max pool of the shortcut) into the block's last conv, so the
output of that conv before the add, and the sum at the end of a stride-2
block, exist in rnc only in float32 registers; ONNX Runtime's QLinearConv
must requantize them. Their ranges are calibrated here on the --calibrate
images (run by ONNX Runtime in float32) with rnc's rule (percentile from
the quantized file's metadata, range widened to hold 0, docs/int8.md), read
off the sorted values rather than rnc's histogram. A MaxPool whose input is
quantized keeps its input's scale (as in rnc). The stem's padded max pool
and the pre-activation batch norms run in float32 between a
DequantizeLinear and a QuantizeLinear (ONNX Runtime has no int8 batch norm).

--check runs the float and the QDQ model with ONNX Runtime on each file
given and prints the top-1 agreement and max |probability difference|.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))


def die(msg):
    sys.exit('qdq.py: ' + msg)


def read_safetensors(path):
    dtypes = {'F32': '<f4', 'I8': 'i1', 'U8': 'u1'}
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        if n > 1 << 26:
            die(f'{path}: header of {n} bytes')
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop('__metadata__', {})
    out = {}
    for name, t in head.items():
        if t['dtype'] not in dtypes:
            die(f'{path}: tensor {name}: dtype {t["dtype"]}')
        a, b = t['data_offsets']
        out[name] = np.frombuffer(data[a:b], dtypes[t['dtype']]).reshape(t['shape'])
    return out, meta


# `rnc ir` lines: "  %7 name = Kind(%6) ..." (expanded) and
# "  %16, %18 a+b+c = Conv2D(%14, %7) ..." (after the pipeline).
LINE = re.compile(r'^\s+(%\d+(?:, %\d+)*) (\S+) = (\w+)\(([^)]*)\)')


def parse_ir(text):
    ops = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        outs = [int(v[1:]) for v in m.group(1).split(', ')]
        args = [int(v.strip()[1:]) for v in m.group(4).split(',') if v.strip().startswith('%')]
        ops.append({'outs': outs, 'names': m.group(2).split('+'), 'kind': m.group(3), 'args': args})
    if not ops:
        die('rnc ir printed no ops')
    return ops


def rnc_ir(rnc, model, target, after):
    cmd = rnc + ['ir', model, '--target', target] + (['--after', after] if after else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        die(f'{" ".join(cmd)}: {r.stderr.strip()}')
    return parse_ir(r.stdout)


class Graph:
    def __init__(self, model):
        self.model = model
        self.g = model.graph
        self.inits = {i.name: i for i in self.g.initializer}
        self.by_name = {n.name: n for n in self.g.node}

    def consumers(self, t):
        return [n for n in self.g.node if t in n.input]

    def one(self, t, op, what):
        ns = [n for n in self.consumers(t) if n.op_type == op]
        if len(ns) != 1:
            die(f'{what}: want one {op} reading {t}, found {len(ns)}')
        return ns[0]


def map_values(ir, G):
    """Maps every value id of rnc's expanded IR to the ONNX tensor holding it."""
    of = {}
    for op in ir:
        (v,), name, kind, args = op['outs'], op['names'][0], op['kind'], op['args']
        x = [of.get(a) for a in args]
        what = f'{name} ({kind})'
        if kind == 'Input':
            of[v] = G.one(G.g.input[0].name, 'Transpose', what).output[0]
        elif kind == 'ZeroPadding2D':
            pads = [n for n in G.consumers(x[0]) if n.op_type == 'Pad']
            of[v] = pads[0].output[0] if pads else x[0]  # else the conv pads
        elif kind == 'Conv2D':
            n = G.by_name.get(f'/{name}/Conv')
            if n is None or n.input[0] != x[0]:
                die(f'{what}: no ONNX Conv /{name}/Conv reading {x[0]}')
            of[v] = n.output[0]
        elif kind == 'BatchNormalization':
            n = G.by_name.get(f'/{name}/BatchNormalization')
            if n is not None and n.input[0] != x[0]:
                die(f'{what}: /{name}/BatchNormalization reads {n.input[0]}, want {x[0]}')
            of[v] = n.output[0] if n is not None else x[0]  # folded into the conv by the exporter
        elif kind == 'Activation':
            of[v] = G.one(x[0], 'Relu', what).output[0]
        elif kind == 'MaxPooling2D':
            of[v] = G.one(x[0], 'MaxPool', what).output[0]
        elif kind == 'Add':
            ns = [n for n in G.consumers(x[0]) if n.op_type == 'Add' and set(n.input) == set(x)]
            if len(ns) != 1:
                die(f'{what}: want one Add of {x}, found {len(ns)}')
            of[v] = ns[0].output[0]
        elif kind in ('GlobalAveragePooling2D', 'Dense', 'Flatten', 'Dropout'):
            pass  # the classifier stays float32 and is not rewritten
        else:
            die(f'{what}: op kind not mapped to ONNX')
    return of


def params_for(values, pct):
    """rnc's rule (docs/int8.md): range from the (100-P)th to the Pth
    percentile, widened to hold 0; scale (hi-lo)/255, zero point round(-lo/scale)."""
    v = values.ravel()
    if pct >= 100:
        lo, hi = float(v.min()), float(v.max())
    else:
        lo, hi = (float(t) for t in np.percentile(v, [100 - pct, pct]))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        return np.float32(1.0), 0
    scale = np.float32((hi - lo) / 255)
    return scale, int(np.clip(round(-lo / float(scale)), 0, 255))


def node_runner(script, model, inp, hw, batch, prefix):
    r = subprocess.run(['node', os.path.join(HERE, script), model, inp, str(hw), str(batch), prefix],
                       capture_output=True, text=True)
    if r.returncode:
        die(f'node {script} {model}: {r.stderr.strip()[-2000:]}')
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='rnc model, e.g. models/resnet50v2.rn')
    ap.add_argument('--float', required=True, dest='float_onnx', help='float ONNX export (torch_ref.py --onnx)')
    ap.add_argument('--quant', required=True, help="rnc quantize's output (.safetensors)")
    ap.add_argument('--calibrate', required=True, help='NHWC float32 .f32 images for the tensors rnc does not quantize')
    ap.add_argument('-o', required=True, dest='out', help='QDQ ONNX model to write')
    ap.add_argument('--rnc', default='go run ./cmd/rnc', help='how to run rnc (default: go run ./cmd/rnc, from the source tree)')
    ap.add_argument('--check', nargs='*', default=[], metavar='X.f32', help='image files to compare float and QDQ outputs on')
    a = ap.parse_args()
    for p in (a.float_onnx, a.quant, a.calibrate):
        if os.path.realpath(p) == os.path.realpath(a.out):
            die(f'-o {a.out} would overwrite an input')

    q, meta = read_safetensors(a.quant)
    if meta.get('format') != 'rnc-int8' or meta.get('format_version') != '1':
        die(f'{a.quant}: not an rnc-int8 v1 file (metadata {meta})')
    if meta.get('model') != os.path.basename(a.model):
        die(f'{a.quant} quantizes {meta.get("model")!r}, not --model {a.model}')
    pct = float(meta.get('percentile', 100)) if meta.get('method') == 'percentile' else 100.0
    rnc = a.rnc.split()
    target = meta.get('target', 'avx512')
    expanded = rnc_ir(rnc, a.model, target, None)
    fused = rnc_ir(rnc, a.model, target, 'all')
    kinds = {o['names'][0]: o['kind'] for o in expanded}

    model = onnx.load(a.float_onnx)
    G = Graph(model)
    of = map_values(expanded, G)
    hw = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value

    # rnc's quantized tensors, by value id, and its int8 convs.
    tparams = {}  # value id -> (scale, zero point, layer/out<i>)
    int8_convs = []
    for op in fused:
        kl = [n for n in op['names'] if kinds.get(n) in ('Conv2D', 'Dense')]
        layer = kl[0] if kl else op['names'][-1]
        for i, v in enumerate(op['outs']):
            s = q.get(f'{layer}/out{i}_scale')
            if s is not None:
                tparams[v] = (np.float32(s[0]), int(q[f'{layer}/out{i}_zero_point'][0]), f'{layer}/out{i}')
        if f'{layer}/kernel_q' in q:
            if op['kind'] != 'Conv2D':
                die(f'{layer}: int8 {op["kind"]}: only Conv2D is rewritten')
            int8_convs.append((layer, op['args'][0]))
    if not int8_convs:
        die(f'{a.quant}: no int8 conv')

    qt = {}  # ONNX tensor -> (scale, zp, source)
    for v, p in tparams.items():
        if v not in of:
            die(f'rnc tensor {p[2]} (value %{v}) has no ONNX tensor')
        qt[of[v]] = p

    # Tensors ONNX Runtime's int8 kernels need and rnc keeps in float32.
    extra = []
    producer = {o: n for n in G.g.node for o in n.output}
    for layer, _ in int8_convs:
        t = G.by_name[f'/{layer}/Conv'].output[0]
        relu = [n for n in G.consumers(t) if n.op_type == 'Relu']
        if len(G.consumers(t)) == 1 and relu:
            t = relu[0].output[0]
        if t not in qt:
            extra.append(t)
    for n in G.g.node:
        if n.op_type == 'Add' and n.output[0] not in qt:
            extra.append(n.output[0])
    changed = True
    while changed:  # a max pool keeps its input's grid (rnc does the same)
        changed = False
        for n in G.g.node:
            if n.op_type == 'MaxPool' and n.input[0] in qt and n.output[0] not in qt and n.input[0] in producer \
                    and producer[n.input[0]].op_type != 'Pad':
                s, z, src = qt[n.input[0]]
                qt[n.output[0]] = (s, z, f'{src} (max pool keeps its input grid)')
                changed = True
    extra = [t for t in extra if t not in qt]
    if extra:
        tmp = tempfile.mkdtemp(prefix='qdq')
        m2 = onnx.load(a.float_onnx)
        del m2.graph.output[:]
        for t in extra:
            m2.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
        onnx.save(m2, os.path.join(tmp, 'dump.onnx'))
        n_img = os.path.getsize(a.calibrate) // (4 * hw * hw * 3)
        node_runner('ort_dump.js', os.path.join(tmp, 'dump.onnx'), a.calibrate, hw, n_img, os.path.join(tmp, 'o'))
        for k, t in enumerate(extra):
            path = os.path.join(tmp, f'o.{k}.f32')
            s, z = params_for(np.fromfile(path, '<f4'), pct)
            os.remove(path)
            qt[t] = (s, z, f'ORT-only, calibrated here on {n_img} images')
        os.remove(os.path.join(tmp, 'dump.onnx'))
        os.rmdir(tmp)

    # Rewrite: Q/DQ pairs after every quantized tensor's producer.
    g = model.graph
    new_nodes, new_inits = [], []
    rename = {}
    for t, (s, z, _) in qt.items():
        rename[t] = t + '_dq'
    for n in g.node:
        for i, x in enumerate(n.input):
            if x in rename:
                n.input[i] = rename[x]
    # Weights of the int8 convs.
    for layer, arg in int8_convs:
        n = G.by_name[f'/{layer}/Conv']
        if n.input[0] != rename.get(of[arg]):
            die(f'{layer}: ONNX Conv reads {n.input[0]}, want the DQ of rnc\'s input {of[arg]}')
        s_x = qt[of[arg]][0]
        if qt[of[arg]][1] != 0:
            die(f'{layer}: input zero point {qt[of[arg]][1]}, rnc\'s int8 conv wants 0')
        wq = np.ascontiguousarray(q[f'{layer}/kernel_q'].transpose(3, 2, 0, 1))  # HWIO -> OIHW
        ws = q[f'{layer}/kernel_scale'].astype(np.float32)
        bias = q[f'{layer}/bias'].astype(np.float32)
        w_init = G.inits.get(n.input[1])
        if w_init is None or tuple(w_init.dims) != wq.shape:
            die(f'{layer}: ONNX weight {n.input[1]} dims {None if w_init is None else list(w_init.dims)}, rnc kernel_q {list(wq.shape)}')
        bscale = (np.float32(s_x) * ws).astype(np.float32)
        bq = np.round(bias.astype(np.float64) / bscale.astype(np.float64))
        if np.abs(bq).max() >= 2 ** 31:
            die(f'{layer}: bias does not fit int32 at scale input x kernel')
        pre = f'{layer}_q'
        new_inits += [numpy_helper.from_array(wq, pre + '.w'), numpy_helper.from_array(ws, pre + '.ws'),
                      numpy_helper.from_array(np.zeros(len(ws), np.int8), pre + '.wz'),
                      numpy_helper.from_array(bq.astype(np.int32), pre + '.b'),
                      numpy_helper.from_array(bscale, pre + '.bs'),
                      numpy_helper.from_array(np.zeros(len(ws), np.int32), pre + '.bz')]
        new_nodes.append(helper.make_node('DequantizeLinear', [pre + '.w', pre + '.ws', pre + '.wz'], [pre + '.wdq'],
                                          name=pre + '/w_dq', axis=0))
        new_nodes.append(helper.make_node('DequantizeLinear', [pre + '.b', pre + '.bs', pre + '.bz'], [pre + '.bdq'],
                                          name=pre + '/b_dq', axis=0))
        old = list(n.input[1:])
        del n.input[1:]
        n.input.extend([pre + '.wdq', pre + '.bdq'])
        for o in old:  # drop the float weights if nothing else reads them
            if o in G.inits and not any(o in m.input for m in g.node):
                g.initializer.remove(G.inits.pop(o))
    # Q/DQ nodes, in topological order: right after each producer.
    qdq_after = {}
    for t, (s, z, _) in qt.items():
        b = t.strip('/').replace('/', '_')
        new_inits += [numpy_helper.from_array(np.array(s, np.float32), b + '.s'),
                      numpy_helper.from_array(np.array(z, np.uint8), b + '.z')]
        qdq_after[t] = [helper.make_node('QuantizeLinear', [t, b + '.s', b + '.z'], [t + '_q'], name=b + '/Q'),
                        helper.make_node('DequantizeLinear', [t + '_q', b + '.s', b + '.z'], [t + '_dq'], name=b + '/DQ')]
    nodes = list(new_nodes)
    for n in g.node:
        nodes.append(n)
        for o in n.output:
            nodes += qdq_after.pop(o, [])
    if qdq_after:
        die(f'tensors without a producer: {list(qdq_after)}')
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, a.out)

    n_rnc = sum(1 for p in qt.values() if not p[2].startswith('ORT-only'))
    n_ort = len(qt) - n_rnc
    print(f'wrote {a.out}: {len(int8_convs)} int8 convs with rnc\'s kernel_q/kernel_scale/bias; '
          f'{n_rnc} quantized tensors with rnc\'s scales (incl. max pools keeping their input grid), '
          f'{n_ort} with scales calibrated here for ONNX Runtime only (percentile {pct:g}):')
    for t, (s, z, src) in qt.items():
        if src.startswith('ORT-only'):
            print(f'  {t}: scale {s:.5g} zp {z}  ({src})')

    for x in a.check:
        n_img = os.path.getsize(x) // (4 * hw * hw * 3)
        with tempfile.TemporaryDirectory() as d:
            ys = []
            for mdl in (a.float_onnx, a.out):
                node_runner('ort_out.js', mdl, x, hw, n_img, os.path.join(d, 'y.f32'))
                ys.append(np.fromfile(os.path.join(d, 'y.f32'), '<f4').reshape(n_img, -1))
        f, i8 = ys
        agree = int((f.argmax(1) == i8.argmax(1)).sum())
        print(f'check {x}: {n_img} images, top-1 agreement float32 vs int8 QDQ {agree}/{n_img}, '
              f'max |dprob| {np.abs(f - i8).max():.4f}, float top-1 {f.argmax(1).tolist()}, int8 top-1 {i8.argmax(1).tolist()}')


if __name__ == '__main__':
    main()
