#!/usr/bin/env bash
# Distributed load generation on one machine (issue 17): the same total arrival rate sent by
# one ordinary loadgen process and by N = 1, 2, 3 worker processes (`--worker i/N --start-at`)
# against one release service on loopback, merged with `loadgen merge`; interleaved passes in
# one sitting. Prints per run: intended, completed, achieved rate, achieved/intended, p50, p99,
# the workers' start lateness and clock offsets, trustworthy, and the host's mean steal share
# over the run (on a shared VM it moves latency more than anything compared here).
#   bench/distributed.sh [passes=3] [rate=1000] [seconds=15]
# BUILD=debug uses the dev build (dependencies at opt-level 2) instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
passes=${1:-3} rate=${2:-1000} seconds=${3:-15}
build=${BUILD:-release}
if [ "$build" = release ]; then
    bench_setup
else
    cargo build -q -p service -p loadgen
    work=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
fi
bin=target/$build
"$bin/service" --profile profiles/single-box.toml --listen 127.0.0.1:0 --data-dir "$work/svc" >"$work/svc.out" 2>"$work/svc.err" &
for _ in $(seq 100); do grep -q listening "$work/svc.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/svc.out")
cat >"$work/dist.toml" <<TOML
name = "dist"
seed = 17
duration = "${seconds}s"
warmup = "2s"
[keys]
preload = 500
[load]
curve = "constant"
rate = $rate
[verify]
every = 10
[slo]
p99 = "100ms"
TOML
loadgen=$bin/loadgen
row() { # row LABEL SUMMARY.json: the run's figures, and the host's steal over it (timeline.json)
    local steal
    steal=$(jq -r '[.series["host.steal_share"][]? | select(. != null)] | if length > 0 then (add / length * 1000 | round / 1000) else "" end' \
        "$(dirname "$2")/timeline.json" 2>/dev/null || true)
    jq -r --arg name "$1" --arg steal "$steal" '[$name, .operations.all.intended, .operations.all.completed,
        .operations.all.achieved_rate, (.operations.all.completed / .operations.all.intended * 10000 | round / 10000),
        (.operations.all.latency_us.p50 / 1000), (.operations.all.latency_us.p99 / 1000),
        ([.workers[]? | .start_late_ms] | map(tostring) | join(" ")),
        ([.workers[]? | "\(.clock.offset_ms)±\(.clock.uncertainty_ms)"] | join(" ")),
        .verification.lost, .trustworthy, $steal] | @tsv' "$2"
}
printf 'run\tintended\tcompleted\tachieved/s\tachieved/intended\tp50 ms\tp99 ms\tstart late ms\tclock ms\tlost\ttrustworthy\tsteal\n'
single() { # single PASS: one ordinary process sends the whole schedule
    local run="single-$1"
    "$loadgen" --scenario "$work/dist.toml" --target "$url" --reports-dir "$work/runs" --run-id "$run" \
        --no-progress >"$work/$run.out" 2>&1 || true
    row "$run" "$work/runs/$run/summary.json"
}
workers() { # workers N PASS: N worker processes with one --start-at, then their merge
    local n=$1 set_id="n$1-$2" at i p
    at=$(date -u -d '+5 sec' +%Y-%m-%dT%H:%M:%S.%3NZ)
    local pids=() dirs=()
    for i in $(seq 0 $((n - 1))); do
        "$loadgen" --scenario "$work/dist.toml" --target "$url" --worker "$i/$n" --start-at "$at" \
            --corpus "$work/$set_id-corpus.json" --reports-dir "$work/runs" --run-id "$set_id-w$i" \
            --no-progress >"$work/$set_id-w$i.out" 2>&1 &
        pids+=($!)
        dirs+=("$work/runs/$set_id-w$i")
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    "$loadgen" merge -o "$work/runs/$set_id" "${dirs[@]}" >"$work/$set_id.merge.out" 2>&1 || true
    row "$set_id" "$work/runs/$set_id/summary.json"
}
# Each pass runs the four kinds in a rotated order, so no kind always follows another.
kinds=(single 1 2 3)
for pass in $(seq "$passes"); do
    for j in 0 1 2 3; do
        kind=${kinds[$(((j + pass - 1) % 4))]}
        if [ "$kind" = single ]; then single "$pass"; else workers "$kind" "$pass"; fi
    done
done
if [ -n "${KEEP:-}" ]; then cp -r "$work/runs" "$KEEP"; echo "run directories kept in $KEEP"; fi
