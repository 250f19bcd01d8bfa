#!/usr/bin/env node
// Runs ONNX Runtime (onnxruntime-node, CPU, all graph optimizations) on
// BATCH images of an NHWC float32 file and writes every graph output k as
// raw little-endian float32 to PREFIX.k.f32; prints one line per output:
//   <k> <name> <dims>
// qdq.py uses it to read intermediate tensors (graph outputs it adds).
// usage: node ort_dump.js MODEL.onnx INPUT.f32 HW BATCH PREFIX
'use strict';
const fs = require('fs');
const path = require('path');
const ortDir = process.env.ORT_NODE || path.join(process.env.HOME, '.cache/rnc-ref/node_modules/onnxruntime-node');
const ort = require(ortDir);

async function main() {
  const [model, input, hw, batch, prefix] = process.argv.slice(2);
  const n = +batch, size = (+hw) * (+hw) * 3;
  const buf = fs.readFileSync(input);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  if (all.length < n * size) throw new Error(`${input} holds ${all.length / size} images, want ${n}`);
  const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const x = new ort.Tensor('float32', all.slice(0, n * size), [n, +hw, +hw, 3]);
  const out = await s.run({ [s.inputNames[0]]: x });
  s.outputNames.forEach((name, k) => {
    const y = out[name];
    if (y.type !== 'float32') throw new Error(`output ${name} is ${y.type}, want float32`);
    fs.writeFileSync(`${prefix}.${k}.f32`, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    console.log(`${k} ${name} ${y.dims.join(',')}`);
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
