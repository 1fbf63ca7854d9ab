#!/usr/bin/env bash
# Benchmark (issue 4): the profiler's overhead. One release `service` (single-box) as an
# external target; loadgen at a fixed rate with and without profiling, interleaved pairs.
# Compared: the generator's CPU µs/request, the service process's CPU µs/request (from
# /proc), and p50/p99 — throughput is fixed by the arrival rate, so cost is what can differ.
# Also: time to rebuild the HTML report of the longest run in reports/ (`loadgen report`).
#   usage: bench/profiler-overhead.sh [rate=3000] [seconds=15] [pairs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-3000}; secs=${2:-15}; pairs=${3:-3}
. bench/common.sh
bench_setup
start_service profiles/single-box.toml
svc_ticks() { awk '{print $14 + $15}' "/proc/$svc/stat"; }

run() {  # $1 = label, $2.. = extra flags
    local label=$1; shift
    local before; before=$(svc_ticks)
    target/release/loadgen --scenario bench/reads-only.toml --target "$url" --rate "$rate" --duration "${secs}s" \
        --no-progress --reports-dir "$work/reports" --run-id "$label" "$@" >/dev/null 2>&1 || true
    local after; after=$(svc_ticks)
    python3 - "$work/reports/$label/summary.json" "$label" "$before" "$after" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); a = s["operations"]["all"]
svc_us = (int(sys.argv[4]) - int(sys.argv[3])) * 10_000 / max(a["completed"], 1)
print(f"{sys.argv[2]:<14} gen {s['generator']['cpu_us_per_request']:6.1f} µs/req  service {svc_us:6.1f} µs/req (incl. preload)  "
      f"p50 {a['latency_us']['p50'] / 1000:.2f} ms  p99 {a['latency_us']['p99'] / 1000:.2f} ms  achieved {a['achieved_rate']:.0f}/s")
PY
}

for p in $(seq "$pairs"); do
    run "profiled-$p"
    run "bare-$p" --no-profile
done
longest=$(ls -d reports/*/ 2>/dev/null | while read -r d; do [ -f "$d/timeline.json" ] && echo "$(python3 -c "import json;print(json.load(open('$d/summary.json'))['duration_s'])") $d"; done | sort -n | tail -1 | cut -d' ' -f2)
if [ -n "$longest" ]; then
    start=$(date +%s.%N); target/release/loadgen report "$longest" >/dev/null; end=$(date +%s.%N)
    echo "report rebuild of $(basename "$longest") ($(python3 -c "import json;print(json.load(open('$longest/summary.json'))['duration_s'])") s run): $(python3 -c "print(f'{$end - $start:.2f}')") s"
fi
