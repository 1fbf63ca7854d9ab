#!/usr/bin/env bash
# Benchmarks (issue 3), side by side against one release `service` on single-box:
#  1. generator cost: CPU µs per request of loadgen vs wrk, same target route (GET of a 1 KB
#     item, Zipf ids), wrk at a fixed connection count, loadgen at a fixed arrival rate;
#  2. rate accuracy: loadgen's intended vs achieved arrivals at the given rates.
#   usage: bench/generator-cost.sh [seconds=10] [rates="1000 10000 30000"]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rates=${2:-"1000 10000 30000"}
command -v wrk >/dev/null || { echo "wrk is required: apt-get install -y wrk" >&2; exit 2; }
. bench/common.sh
bench_setup
start_service profiles/single-box.toml
# Corpus for wrk's ids 1..2000 (loadgen preloads its own on top).
preload 2000

cpu_of() { tail -1 "$1" | awk '{print ($1 + $2)}'; }  # user + sys seconds from /usr/bin/time -f "%U %S"

/usr/bin/time -f "%U %S" -o "$work/wrk.time" wrk -t1 -c32 -d"${secs}s" -s bench/zipf-get.lua "$url/" >"$work/wrk.txt"
wrk_reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
wrk_us=$(awk -v c="$(cpu_of "$work/wrk.time")" -v n="$wrk_reqs" 'BEGIN {printf "%.1f", c * 1e6 / n}')
echo "wrk: $wrk_reqs requests, $(cpu_of "$work/wrk.time") CPU s, $wrk_us µs/request"

for rate in $rates; do
    /usr/bin/time -f "%U %S" -o "$work/lg.time" target/release/loadgen --scenario steady --target "$url" \
        --rate "$rate" --duration "${secs}s" --no-progress --reports-dir "$work/reports" >"$work/lg.txt" 2>&1 || true
    summary=$(ls -d "$work"/reports/*/ | tail -1)summary.json
    python3 - "$summary" "$(cpu_of "$work/lg.time")" "$rate" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); cpu = float(sys.argv[2]); rate = float(sys.argv[3])
a = s["operations"]["all"]
print(f"loadgen @ {rate:.0f}/s: intended {a['intended']} completed {a['completed']} "
      f"achieved/intended {a['achieved_rate'] / a['intended_rate']:.4f}, "
      f"process CPU {cpu:.2f} s ({cpu * 1e6 / max(a['completed'], 1):.1f} µs/request incl. preload), "
      f"generator threads {s['generator']['cpu_us_per_request']:.1f} µs/request, "
      f"lag p99 {s['schedule_lag']['lag_us']['p99'] / 1000:.2f} ms, trustworthy {s['trustworthy']}, "
      f"p50 {a['latency_us']['p50'] / 1000:.2f} ms p99 {a['latency_us']['p99'] / 1000:.2f} ms")
PY
done
