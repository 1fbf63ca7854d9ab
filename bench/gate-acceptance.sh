#!/usr/bin/env bash
# Acceptance of the CI performance gate (issue 6), figures in BENCHMARKS.md:
#   1. calibration: A/A pairs of the embedded single-box service -> threshold;
#   2. A/A: N whole gate runs of the same build (figures + SLOs + interleaved A/B): failures;
#   3. 2x per-request CPU (bench/gate-2x-cpu.toml): N gate runs, how many fail with exit 7;
#   4. doubled query count (one extra query per read): N figures-gate runs, how many exit 6.
#   usage: bench/gate-acceptance.sh [runs=20] [pairs=6] [aa_pairs=20]
# PROFILE=release for a release build; the default is the dev build CI uses (dependencies
# at opt-level 2, the workspace's crates unoptimised), which is what .ci/run gates.
# SKIP_BUILD=1 uses the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}; pairs=${2:-6}; aa_pairs=${3:-20}
profile=${PROFILE:-dev}
[ -n "${SKIP_BUILD:-}" ] || cargo build -q --profile "$profile" -p loadgen
lg=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/loadgen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

started=$(date +%s)
$lg gate calibrate --aa-pairs "$aa_pairs" --pairs "$pairs" --write "$work/calibration.json" --out "$work/cal"
echo "calibration: $(($(date +%s) - started)) s"

# Runs the gate N times with the given arguments; prints a tally of exit codes.
tally() {
    local label=$1; shift
    local codes=() t0; t0=$(date +%s)
    for i in $(seq "$runs"); do
        local code=0
        $lg gate --out "$work/$label-$i" "$@" >"$work/$label-$i.log" 2>&1 || code=$?
        codes+=("$code")
        echo "  $label run $i: exit $code ($(grep -o 'median ratio [0-9.]*, 95% CI \[[0-9., ]*\]' "$work/$label-$i/gate-summary.md" 2>/dev/null || echo 'no A/B'))"
    done
    echo "$label: $(printf '%s\n' "${codes[@]}" | sort -n | uniq -c | awk '{printf "%s x exit %s; ", $1, $2}')$(($(date +%s) - t0)) s"
}

tally aa --figures bench/gate-baseline.json --ab --pairs "$pairs" --calibration "$work/calibration.json"
tally cpu2x --figures bench/gate-baseline.json --pairs "$pairs" --calibration "$work/calibration.json" \
    --baseline-profile single-box --candidate-profile bench/gate-2x-cpu.toml
tally queries2x --figures bench/gate-baseline.json --candidate-profile loadgen/tests/fixtures/single-box-extra-query.toml
cat "$work/calibration.json"
