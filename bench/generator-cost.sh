#!/usr/bin/env bash
# Benchmarks (issue 3), side by side against one release `service` on single-box, same target
# route for both generators (GET of a 1 KB item, Zipf ids):
#  1. generator cost: CPU µs per request of loadgen vs wrk — wrk once as fast as it goes, and,
#     per rate, wrk paced near that rate (a per-connection delay) beside loadgen at that rate,
#     in interleaved pairs;
#  2. rate accuracy: loadgen's intended vs achieved arrivals at each rate.
#   usage: bench/generator-cost.sh [seconds=10] [rates="1000 5000 10000"] [pairs=2]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rates=${2:-"1000 5000 10000"}; pairs=${3:-2}
command -v wrk >/dev/null || { echo "wrk is required: apt-get install -y wrk" >&2; exit 2; }
. bench/common.sh
bench_setup
start_service profiles/single-box.toml
# Corpus for wrk's ids 1..2000 (loadgen preloads its own on top).
preload 2000

cpu_of() { tail -1 "$1" | awk '{print ($1 + $2)}'; }  # user + sys seconds from /usr/bin/time -f "%U %S"

# run_wrk CONNECTIONS DELAY_MS: prints "requests/s µs/request".
run_wrk() {
    WRK_DELAY_MS=$2 /usr/bin/time -f "%U %S" -o "$work/wrk.time" \
        wrk -t1 -c"$1" -d"${secs}s" -s bench/zipf-get.lua "$url/" >"$work/wrk.txt"
    awk -v c="$(cpu_of "$work/wrk.time")" -v s="$secs" '/requests in/ {printf "%.0f %.1f\n", $1 / s, c * 1e6 / $1}' "$work/wrk.txt"
}

read -r wrk_rate wrk_us < <(run_wrk 32 0)
echo "wrk -t1 -c32 as fast as it goes: ${wrk_rate} req/s, ${wrk_us} µs/request"

for rate in $rates; do
    # 32 connections each pausing 32000/rate ms between requests: a little under `rate`.
    pause=$(( 32000 / rate )); [ "$pause" -ge 1 ] || pause=1
    for p in $(seq "$pairs"); do
        read -r paced_rate paced_us < <(run_wrk 32 "$pause")
        target/release/loadgen --scenario steady --target "$url" --rate "$rate" --duration "${secs}s" \
            --no-progress --reports-dir "$work/reports" --run-id "r$rate-$p" >"$work/lg.txt" 2>&1 || true
        python3 - "$work/reports/r$rate-$p/summary.json" "$rate" "$p" "$paced_rate" "$paced_us" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); rate, pair = float(sys.argv[2]), sys.argv[3]
paced_rate, paced_us = float(sys.argv[4]), float(sys.argv[5])
a, g = s["operations"]["all"], s["generator"]
us = g["cpu_us_per_request"]
print(f"rate {rate:.0f}/s pair {pair}: wrk paced {paced_rate:.0f} req/s {paced_us:.1f} µs/request | "
      f"loadgen achieved/intended {a['achieved_rate'] / a['intended_rate']:.4f}, {us:.1f} µs/request "
      f"(ratio {us / paced_us:.2f}), sending thread {g['cpu_share'] * 100:.0f}% busy, "
      f"lag p99 {s['schedule_lag']['lag_us']['p99'] / 1000:.2f} ms, trustworthy {s['trustworthy']}")
PY
    done
done
