#!/bin/sh
# Runs every measurement of BENCHMARKS.md on this machine, from the rnc
# source tree, after the reference harness has made the ONNX files and
# inputs (see BENCHMARKS.md, "Setup"): REF is where they are (default
# /tmp/ref). Prints plain lines; BENCHMARKS.md quotes them.
set -eu
REF=${REF:-/tmp/ref}
here=$(dirname "$0")
go build -o /tmp/rnc-all ./cmd/rnc
echo "== machine"
grep -m1 "model name" /proc/cpuinfo; nproc; go version
echo "== FMA peak"
/tmp/rnc-all peak
echo "== target 1: batch 1, 1 thread (rnc/ORT per round)"
"$here/compare.sh" models/resnet50v2.rn "$REF/r50v2.onnx" "$REF/x8_resnet50v2.f32" 1 1 3 21
"$here/compare.sh" models/resnet152v2.rn "$REF/resnet152v2.onnx" "$REF/x8_resnet152v2.f32" 1 1 3 11
"$here/compare.sh" models/resnet50.rn "$REF/resnet50.onnx" "$REF/x8_resnet50.f32" 1 1 3 21
echo "== target 2: batch 8, 1 and 2 threads"
"$here/compare.sh" models/resnet50v2.rn "$REF/r50v2.onnx" "$REF/x8_resnet50v2.f32" 8 1 3 5
"$here/compare.sh" models/resnet50v2.rn "$REF/r50v2.onnx" "$REF/x8_resnet50v2.f32" 8 2 3 5
echo "== target 3: batch 1, 2 threads"
"$here/compare.sh" models/resnet50v2.rn "$REF/r50v2.onnx" "$REF/x8_resnet50v2.f32" 1 2 3 21
echo "== target 3: rnc alone, 1 and 2 threads back to back per round (the scaling, without ORT between)"
for b in 1 8; do
	for r in 1 2 3; do
		one=$(/tmp/rnc-all bench models/resnet50v2.rn --batch $b --threads 1 --runs 21 | awk '/^total/ {print $2}')
		two=$(/tmp/rnc-all bench models/resnet50v2.rn --batch $b --threads 2 --runs 21 | awk '/^total/ {print $2}')
		echo "round $r: batch $b 1 thread $one ms 2 threads $two ms 2T/1T time $(echo "$two $one" | awk '{printf "%.3f", $1/$2}')"
	done
done
echo "== target 4: peak resident memory, load + one image"
go run ./docs/bench/rss -weights "$REF/r50v2.safetensors"
/usr/bin/time -f "onnxruntime-node peak RSS %M KB" node "$here/ort_time.js" "$REF/r50v2.onnx" "$REF/x8_resnet50v2.f32" 224 1 1 1
echo "== target 5: compile and build ResNet152V2"
rm -rf /tmp/rnc-all-gen && mkdir -p gen
/usr/bin/time -f "rnc compile: %e s" /tmp/rnc-all compile models/resnet152v2.rn -o gen/bench_resnet152v2
GOCACHE=$(mktemp -d) /usr/bin/time -f "go build (empty build cache): %e s" go build ./gen/bench_resnet152v2
rm -rf gen/bench_resnet152v2
echo "== target 6: outputs against PyTorch (max abs diff, top-1 agreement, batch 8)"
for m in resnet50v2:r50v2 resnet152v2:resnet152v2 resnet50:resnet50; do
	model=${m%%:*} w=${m#*:}
	targets="avx512 avx2"
	[ "$model" = resnet50v2 ] && targets="$targets generic" # the portable Go path is slow: one model
	for t in $targets; do
		/tmp/rnc-all run "models/$model.rn" --weights "$REF/$w.safetensors" --input "$REF/x8_$model.f32" --out /tmp/rnc-all-out.f32 --target "$t" >/dev/null
		/usr/bin/python3 -c "
import numpy as np
a=np.fromfile('/tmp/rnc-all-out.f32','<f4').reshape(8,-1); b=np.fromfile('$REF/expected8_$model.f32','<f4').reshape(8,-1)
print('$model $t: max abs diff %.2e, top-1 %d/8' % (abs(a-b).max(), (a.argmax(1)==b.argmax(1)).sum()))"
	done
done
echo "== per layer, ResNet50V2, batch 1, 1 thread"
/tmp/rnc-all bench models/resnet50v2.rn --runs 30
echo "== with Winograd on the 14x14 layers too (--winograd-limit 64), batch 1, 1 and 2 threads"
/tmp/rnc-all bench models/resnet50v2.rn --runs 30 --winograd-limit 64 | sed -n 1,2p
/tmp/rnc-all bench models/resnet50v2.rn --runs 30 --winograd-limit 64 --threads 2 | sed -n 1,2p
echo "== without Winograd (--disable winograd), batch 1, 1 and 2 threads"
/tmp/rnc-all bench models/resnet50v2.rn --runs 30 --disable winograd | sed -n 1,2p
/tmp/rnc-all bench models/resnet50v2.rn --runs 30 --disable winograd --threads 2 | sed -n 1,2p
