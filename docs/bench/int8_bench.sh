#!/bin/sh
# Times rnc int8 (rnc bench --precision int8 with the quantized file),
# rnc float32, ONNX Runtime float32 and ONNX Runtime int8 (the QDQ model
# qdq.py writes with rnc's scales) on the same network, alternating in
# each of ROUNDS rounds, for batch 1 on 1 and 2 threads and batch 8 on 2
# threads; prints each median (RUNS runs) and the ratios rnc int8 / rnc
# float32 and rnc int8 / ORT int8 per round.
#
#   docs/bench/int8_bench.sh MODEL.rn FLOAT.safetensors Q.safetensors FLOAT.onnx QDQ.onnx INPUT.f32 [ROUNDS] [RUNS]
#
# Run from the rnc source tree (docs/int8.md, BENCHMARKS.md: the commands
# that make the files).
set -eu
model=$1 fw=$2 qw=$3 f32=$4 i8=$5 input=$6 rounds=${7:-3} runs=${8:-21}
here=$(dirname "$0")
go build -o /tmp/rnc-int8bench ./cmd/rnc
grep -m1 "model name" /proc/cpuinfo
grep -m1 "cpu family" /proc/cpuinfo; grep -m1 "^model[[:space:]]*:" /proc/cpuinfo
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	for bt in "1 1" "1 2" "8 2"; do
		set -- $bt
		b=$1 t=$2
		ri=$(/tmp/rnc-int8bench bench "$model" --precision int8 --weights "$qw" --batch "$b" --threads "$t" --runs "$runs" | awk '/^total/ {print $2}')
		rf=$(/tmp/rnc-int8bench bench "$model" --weights "$fw" --batch "$b" --threads "$t" --runs "$runs" | awk '/^total/ {print $2}')
		of=$(node "$here/ort_time.js" "$f32" "$input" 224 "$b" "$t" "$runs" | awk '{print $4}')
		oi=$(node "$here/ort_time.js" "$i8" "$input" 224 "$b" "$t" "$runs" | awk '{print $4}')
		echo "round $r: batch $b threads $t: rnc int8 $ri ms, rnc float32 $rf ms, ORT float32 $of ms, ORT int8 $oi ms; rnc int8/rnc float32 $(echo "$ri $rf" | awk '{printf "%.3f", $1/$2}'), rnc int8/ORT int8 $(echo "$ri $oi" | awk '{printf "%.3f", $1/$2}')"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
