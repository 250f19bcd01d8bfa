#!/usr/bin/env node
// Times ONNX Runtime (onnxruntime-node, CPU, all graph optimizations) on
// the first --batch images of an NHWC float32 file; prints one line:
//   ort <batch> <threads> <median ms> <min ms>
// usage: node ort_time.js MODEL.onnx INPUT.f32 HW BATCH THREADS RUNS
'use strict';
const fs = require('fs');
const path = require('path');
const ortDir = process.env.ORT_NODE || path.join(process.env.HOME, '.cache/rnc-ref/node_modules/onnxruntime-node');
const ort = require(ortDir);

async function main() {
  const [model, input, hw, batch, threads, runs] = process.argv.slice(2);
  const n = +batch, size = (+hw) * (+hw) * 3;
  const buf = fs.readFileSync(input);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  if (all.length < n * size) throw new Error(`${input} holds ${all.length / size} images, want ${n}`);
  const x = new ort.Tensor('float32', all.slice(0, n * size), [n, +hw, +hw, 3]);
  const s = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', executionMode: 'sequential',
    intraOpNumThreads: +threads, interOpNumThreads: 1,
  });
  const feed = { [s.inputNames[0]]: x };
  for (let i = 0; i < 3; i++) await s.run(feed);
  const ts = [];
  for (let i = 0; i < +runs; i++) {
    const t0 = process.hrtime.bigint();
    await s.run(feed);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  console.log(`ort ${n} ${threads} ${ts[ts.length >> 1].toFixed(3)} ${ts[0].toFixed(3)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
