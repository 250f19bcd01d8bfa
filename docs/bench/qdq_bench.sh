#!/bin/sh
# Times ONNX Runtime float32 against ONNX Runtime int8 (the QDQ model
# qdq.py writes) on the same network, alternating in each of ROUNDS
# rounds, batch 1, 1 and 2 threads; prints each median (ort_time.js, RUNS
# runs after 3 warm-ups) and the ratio int8/float32 per round.
#
#   docs/bench/qdq_bench.sh FLOAT.onnx QDQ.onnx INPUT.f32 [ROUNDS] [RUNS] [HW]
set -eu
f32=$1 i8=$2 input=$3 rounds=${4:-3} runs=${5:-21} hw=${6:-224}
here=$(dirname "$0")
grep -m1 "model name" /proc/cpuinfo
grep -m1 "cpu family" /proc/cpuinfo; grep -m1 "^model[[:space:]]*:" /proc/cpuinfo
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	for t in 1 2; do
		a=$(node "$here/ort_time.js" "$f32" "$input" "$hw" 1 "$t" "$runs" | awk '{print $4}')
		b=$(node "$here/ort_time.js" "$i8" "$input" "$hw" 1 "$t" "$runs" | awk '{print $4}')
		echo "round $r: batch 1 threads $t float32 $a ms int8 $b ms int8/float32 $(echo "$b $a" | awk '{printf "%.3f", $1/$2}')"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
