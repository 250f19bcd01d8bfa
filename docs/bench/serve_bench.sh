#!/bin/sh
# The served-throughput table of BENCHMARKS.md ("Serving"): a compiled
# model's server binary (rnc compile --server) on the loopback address,
# loaded by tools/oipload at concurrency 1, 8 and 64 with batch limits
# (-max-batch) 1 and 8 on 1 and 2 threads, every answer checked; one
# overload row (a queue of OVERLOAD_QUEUE at concurrency 64: 503s, no
# wrong answers); and the library's own batch-8 throughput on the same
# threads (rnc bench --batch 8), which the served throughput is divided by.
#
#   docs/bench/serve_bench.sh [MODEL.rn] [WEIGHTS] [REQUESTS]
#
# MODEL defaults to models/resnet50v2.rn; WEIGHTS to synthetic weights
# (rnc weights init: the timing does not depend on the values); REQUESTS
# (default 256) is each row's request count (-duration DURATION, default
# 10m, bounds each row too). Requests carry their image as bytes with the
# protocol's binary tensor data extension (ENCODING=json: as JSON numbers,
# which the server must parse: 150,528 per ResNet50V2 image). Environment:
# ENCODING (binary), MAX_DELAY (2ms), QUEUE (64), OVERLOAD_QUEUE (2), RUNS
# (rnc bench's runs, 20), PORT (18480), SERVER_BIN (a server binary to use
# instead of compiling MODEL: it must take the flags start passes below).
# Every server is started afresh for each row, so that its peak RSS
# (VmHWM) is that row's; the expected outputs are fetched before, from a
# server of their own. Run from the rnc source tree on
# an otherwise idle machine; oipload runs on the same CPUs as the server
# (it encodes its requests before the clock starts). Exit status 1 if any
# row had errors or wrong answers.
set -eu
model=${1:-models/resnet50v2.rn} weights=${2:-} requests=${3:-256}
delay=${MAX_DELAY:-2ms} queue=${QUEUE:-64} oqueue=${OVERLOAD_QUEUE:-2} runs=${RUNS:-20}
port=${PORT:-18480} duration=${DURATION:-10m}
case ${ENCODING:-binary} in
binary) encoding=-binary ;;
json) encoding= ;;
*) echo "serve_bench: ENCODING=$ENCODING: want binary or json" >&2; exit 2 ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnc-servebench.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

go build -o "$tmp/rnc" ./cmd/rnc
go build -o "$tmp/oipload" ./tools/oipload
if [ -n "${SERVER_BIN:-}" ]; then
	server=$SERVER_BIN
else
	# gen/ is ignored by git; inside the module the package imports rnc's
	# runtime and serve packages.
	"$tmp/rnc" compile "$model" -o gen/servebench --server >/dev/null
	go build -o "$tmp/serve" ./gen/servebench/cmd/serve
	server=$tmp/serve
fi
if [ -z "$weights" ]; then
	"$tmp/rnc" weights init "$model" -o "$tmp/weights.safetensors" >/dev/null
	weights=$tmp/weights.safetensors
fi

echo "$model, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
grep -m1 "model name" /proc/cpuinfo || true
echo "CPUs: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "requests per row: $requests, 1 image each, ${ENCODING:-binary}; -max-delay $delay, -queue $queue"

# field KEY LINE: the value of KEY=value in oipload's summary line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s|^$1=||p" | sed 's/ms$//; s/MiB$//'; }

# start THREADS MAXBATCH QUEUE: a server in the background, its pid in $pid.
start() {
	"$server" -addr "127.0.0.1:$port" -name bench -weights "$weights" -threads "$1" \
		-max-batch "$2" -max-delay "$delay" -queue "$3" >"$tmp/server.log" 2>&1 &
	pid=$!
}
stop() {
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
# 128 distinct request bodies (2 × the largest concurrency), the same in
# every row: their expected outputs are fetched once, one at a time from a
# server of its own (so that no row's peak RSS includes it), and check
# every row's answers.
load() {
	"$tmp/oipload" -url "http://127.0.0.1:$port" -model bench -wait 120s -distinct 128 $encoding "$@"
}
start 1 1 "$queue"
if ! load -requests 1 -check -save-reference "$tmp/reference.json" >/dev/null; then
	echo "serve_bench: the expected outputs could not be fetched; the server's log:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi
stop

bad=0
# row THREADS MAXBATCH CONCURRENCY QUEUE LIBRARY: one server, one oipload run.
row() {
	t=$1 b=$2 c=$3 q=$4 lib=$5
	start "$t" "$b" "$q"
	line=$(load -concurrency "$c" -requests "$requests" -duration "$duration" \
		-check -reference "$tmp/reference.json" -pid "$pid" 2>"$tmp/oipload.err") || {
		bad=1
		sed 's/^/    /' "$tmp/oipload.err" >&2
	}
	stop
	if [ -z "$line" ]; then
		echo "| $t | $b | $c | $q | (no result: see above) |||||||||"
		return
	fi
	ips=$(field images/s "$line")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		"$t" "$b" "$c" "$q" "$ips" "$(field p50 "$line")" "$(field p90 "$line")" "$(field p99 "$line")" \
		"$(field ok "$line")" "$(field 503 "$line")" "$(field errors "$line")" "$(field mismatched "$line")" \
		"$(field peak_rss "$line")" "$(echo "$ips $lib" | awk '{printf "%.2f", $1/$2}')"
}

echo
echo "| threads | max-batch | concurrency | queue | served images/s | p50 ms | p90 ms | p99 ms | OK | 503 | errors | wrong | peak RSS MiB | served / library batch 8 |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
libs=
for t in 1 2; do
	lib=$("$tmp/rnc" bench "$model" --weights "$weights" --batch 8 --threads "$t" --runs "$runs" | awk '/^total/ {print $4}')
	libs="$libs threads $t: $lib images/s;"
	for b in 1 8; do
		for c in 1 8 64; do
			row "$t" "$b" "$c" "$queue" "$lib"
		done
	done
done
row 2 8 64 "$oqueue" "$lib"
echo
echo "library (rnc bench --batch 8, median of $runs runs):$libs"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$bad" != 0 ]; then
	echo "serve_bench: a row had errors or wrong answers (above)" >&2
	exit 1
fi
