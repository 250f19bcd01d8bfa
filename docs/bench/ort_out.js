#!/usr/bin/env node
// Runs ONNX Runtime (onnxruntime-node, CPU, all graph optimizations) on
// BATCH images of an NHWC float32 file and writes its outputs as raw
// little-endian float32, for comparison with PyTorch's (BENCHMARKS.md,
// target 6).
// usage: node ort_out.js MODEL.onnx INPUT.f32 HW BATCH OUT.f32
'use strict';
const fs = require('fs');
const path = require('path');
const ortDir = process.env.ORT_NODE || path.join(process.env.HOME, '.cache/rnc-ref/node_modules/onnxruntime-node');
const ort = require(ortDir);

async function main() {
  const [model, input, hw, batch, out] = process.argv.slice(2);
  const n = +batch, size = (+hw) * (+hw) * 3;
  const buf = fs.readFileSync(input);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  if (all.length < n * size) throw new Error(`${input} holds ${all.length / size} images, want ${n}`);
  const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const x = new ort.Tensor('float32', all.slice(0, n * size), [n, +hw, +hw, 3]);
  const y = (await s.run({ [s.inputNames[0]]: x }))[s.outputNames[0]].data;
  fs.writeFileSync(out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}
main().catch((e) => { console.error(e); process.exit(1); });
