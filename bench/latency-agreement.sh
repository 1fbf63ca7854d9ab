#!/usr/bin/env bash
# Benchmark (issue 3): loadgen's p50/p99 vs an independent constant-rate measurement with
# coordinated-omission correction (oha -q RATE --latency-correction): same target, same item,
# running at the same time, each at RATE, a rate all hold.
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

# oha_summary FILE LABEL: prints oha's rate and percentiles.
oha_summary() {
    python3 - "$1" "$2" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
pct = o["latencyPercentiles"]
print(f"{sys.argv[2]}:     rps {o['summary']['requestsPerSec']:.0f}  p50 {pct['p50'] * 1000:.3f} ms  p99 {pct['p99'] * 1000:.3f} ms")
PY
}

# loadgen_summary RUN-ID LABEL: prints loadgen's rate, percentiles and self-check.
loadgen_summary() {
    python3 - "$work/reports/$1/summary.json" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); a = s["operations"]["all"]
print(f"{sys.argv[2]} loadgen: rps {a['achieved_rate']:.0f}  p50 {a['latency_us']['p50'] / 1000:.3f} ms  p99 {a['latency_us']['p99'] / 1000:.3f} ms  lag p99 {s['schedule_lag']['lag_us']['p99'] / 1000:.3f} ms  trustworthy {s['trustworthy']}")
PY
}

# Each pair runs oha and loadgen *at the same time*, each at RATE, on the same item: the
# machine's noise (shared, 2 cores) then falls on both alike, where back-to-back runs differed
# by 15-20% from one run to the next of the same generator. loadgen runs as it does by default
# (profiler sampling the target every second beside the load) and without the profiler.
# A second oha runs beside them *without* --latency-correction: where its p50 reads below the
# corrected one, the difference is oha's own send lateness, which its correction charges as
# latency (a generator that sends on time reads the same either way).
for p in $(seq "$pairs"); do
    for mode in default no-profile; do
        flag=(); [ "$mode" = no-profile ] && flag=(--no-profile)
        oha --no-tui -q "$rate" --latency-correction -z "${secs}s" -c 64 --output-format json \
            "$url/api/v1/content/1" >"$work/oha.json" &
        oha_pid=$!
        oha --no-tui -q "$rate" -z "${secs}s" -c 64 --output-format json \
            "$url/api/v1/content/1" >"$work/oha-raw.json" &
        oha_raw_pid=$!
        # loadgen preloads and warms up (2 s) before its measured SECONDS-4 s, which so fall
        # inside oha's SECONDS.
        target/release/loadgen --scenario bench/reads-only.toml --target "$url" --rate "$rate" \
            --duration "$((secs - 4))s" "${flag[@]}" --no-progress --reports-dir "$work/reports" \
            --run-id "pair$p-$mode" >/dev/null 2>&1 || true
        wait "$oha_pid" "$oha_raw_pid"
        oha_summary "$work/oha.json" "pair $p ($mode) oha"
        oha_summary "$work/oha-raw.json" "pair $p ($mode) oha uncorrected"
        loadgen_summary "pair$p-$mode" "pair $p ($mode)"
    done
done
