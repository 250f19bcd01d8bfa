#!/bin/sh
# Times rnc (rnc bench) and ONNX Runtime (ort_time.js) on the same model and
# weights, alternating ROUNDS times on this machine, and prints each side's
# median latency per round and the ratio rnc/ORT (below 1: rnc is faster).
#
#   docs/bench/compare.sh MODEL.rn MODEL.onnx INPUT.f32 BATCH THREADS [ROUNDS] [RUNS]
#
# Make the ONNX file and input with the reference harness (../shared/ref,
# see its README): gen_weights.py + torch_ref.py --onnx. Run from the rnc
# source tree; rnc bench compiles and builds the model once per round.
set -eu
model=$1 onnx=$2 input=$3 batch=$4 threads=$5 rounds=${6:-3} runs=${7:-21}
here=$(dirname "$0")
hw=$(go run ./cmd/rnc summary "$model" | grep -o '(None, [0-9]*' | head -1 | grep -o '[0-9]*$')
go build -o /tmp/rnc-compare ./cmd/rnc
for r in $(seq "$rounds"); do
	rnc=$(/tmp/rnc-compare bench "$model" --batch "$batch" --threads "$threads" --runs "$runs" | awk '/^total/ {print $2}')
	ort=$(node "$here/ort_time.js" "$onnx" "$input" "$hw" "$batch" "$threads" "$runs" | awk '{print $4}')
	echo "round $r: batch $batch threads $threads rnc $rnc ms ort $ort ms ratio $(echo "$rnc $ort" | awk '{printf "%.3f", $1/$2}')"
done
