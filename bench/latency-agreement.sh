#!/usr/bin/env bash
# Benchmark (issue 3): loadgen's p50/p99 vs an independent constant-rate measurement with
# coordinated-omission correction (oha -q RATE --latency-correction), same target, same run,
# interleaved pairs, at a rate both hold.
#   usage: bench/latency-agreement.sh [rate=1000] [seconds=20] [pairs=2]
# Needs oha: cargo install oha --locked
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}; secs=${2:-20}; pairs=${3:-2}
command -v oha >/dev/null || { echo "oha is required: cargo install oha --locked" >&2; exit 2; }
. bench/common.sh
bench_setup
start_service profiles/single-box.toml
preload 1

for p in $(seq "$pairs"); do
    oha --no-tui -q "$rate" --latency-correction -z "${secs}s" -c 64 --output-format json "$url/api/v1/content/1" >"$work/oha.json"
    python3 - "$work/oha.json" "$p" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
pct = o["latencyPercentiles"]
print(f"pair {sys.argv[2]} oha:     rps {o['summary']['requestsPerSec']:.0f}  p50 {pct['p50'] * 1000:.3f} ms  p99 {pct['p99'] * 1000:.3f} ms")
PY
    # loadgen as it runs by default (profiler sampling the target every second beside the
    # load), and without the profiler (the measurement alone, as oha runs).
    for mode in default no-profile; do
        flag=(); [ "$mode" = no-profile ] && flag=(--no-profile)
        target/release/loadgen --scenario bench/reads-only.toml --target "$url" --rate "$rate" --duration "${secs}s" \
            "${flag[@]}" --no-progress --reports-dir "$work/reports" --run-id "pair$p-$mode" >/dev/null 2>&1 || true
        python3 - "$work/reports/pair$p-$mode/summary.json" "$p" "$mode" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); a = s["operations"]["all"]
print(f"pair {sys.argv[2]} loadgen ({sys.argv[3]}): rps {a['achieved_rate']:.0f}  p50 {a['latency_us']['p50'] / 1000:.3f} ms  p99 {a['latency_us']['p99'] / 1000:.3f} ms  lag p99 {s['schedule_lag']['lag_us']['p99'] / 1000:.3f} ms  trustworthy {s['trustworthy']}")
PY
    done
done
