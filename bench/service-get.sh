#!/usr/bin/env bash
# Benchmark (issue 2): GET of a 1 KB item vs the trivial /livez route of the same service,
# same generator (wrk), same run, Zipf-skewed ids, on single-box and single-box + memory cache.
# Pairs are interleaved (livez, get, livez, get, ...) because these machines are noisy; the
# figure is the ratio of GET req/s to livez req/s per pair, and the median of those ratios.
#   usage: bench/service-get.sh [pairs=3] [seconds=8] [items=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}; secs=${2:-8}; items=${3:-2000}
command -v wrk >/dev/null || { echo "wrk is required: apt-get install -y wrk" >&2; exit 2; }
. bench/common.sh
bench_setup

run_profile() {  # $1 = label, $2 = profile file
  local label=$1 profile=$2
  start_service "$profile" "$label"
  preload "$items"
  until curl -s "$url/metrics" | grep -q '^scaleloop_queue_depth 0$'; do sleep 0.2; done
  local ratios=()
  for p in $(seq "$pairs"); do
    local trivial get
    trivial=$(wrk -t1 -c32 -d"${secs}s" "$url/livez" | awk '/Requests\/sec/ {print $2}')
    get=$(ZIPF_N=$items wrk -t1 -c32 -d"${secs}s" -s bench/zipf-get.lua "$url/" | tee "$work/get.txt" | awk '/Requests\/sec/ {print $2}')
    grep -q '^non-200: 0$' "$work/get.txt" || { echo "GETs failed:"; cat "$work/get.txt"; exit 1; }
    local ratio; ratio=$(awk -v a="$get" -v b="$trivial" 'BEGIN {printf "%.3f", a / b}')
    ratios+=("$ratio")
    echo "$label pair $p: livez ${trivial} req/s, GET 1KB ${get} req/s, ratio ${ratio}"
  done
  echo "$label median ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  echo "$label hits/misses: $(curl -s "$url/metrics" | awk '/^scaleloop_cache_(hits|misses)_total/ {printf "%s=%s ", $1, $2}')"
  kill "$svc"; wait "$svc" 2>/dev/null || true
}

run_profile single-box profiles/single-box.toml
run_profile memory-cache bench/single-box-memory-cache.toml
