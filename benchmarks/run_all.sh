#!/bin/sh
# Run every benchmark of issue 7 one after the other (never two at once: they would time each other),
# writing one log per script into DIR (default benchmarks/results-<date>).  Extra arguments (e.g. --threads 1)
# go to every script.   Usage: sh benchmarks/run_all.sh [DIR] [--threads N]
set -e
here=$(dirname "$0")
dir=${1:-$here/results-$(date +%Y%m%d-%H%M)}
[ $# -gt 0 ] && shift
mkdir -p "$dir"
for s in bench_explain compare_zennit compare_onnxruntime bench_memory bench_scaling; do
    echo "== $s $*" >&2
    python "$here/$s.py" "$@" > "$dir/$s.log" 2>&1
done
python "$here/bench_explain.py" --breakdown-only --dtype float32 "$@" > "$dir/breakdown.log" 2>&1
echo "logs in $dir" >&2
