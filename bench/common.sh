# Shared by the benchmark scripts (sourced, not run): build, start one release service in a
# temporary directory, and preload 1 KB items.

# Builds the release binaries and makes $work, removed (with any background job) on exit.
bench_setup() {
    cargo build -q --release -p service -p loadgen
    work=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
}

# start_service PROFILE LABEL: runs the release service; sets $url and $svc (its pid).
start_service() {
    local profile=$1 label=${2:-svc}
    target/release/service --profile "$profile" --listen 127.0.0.1:0 --data-dir "$work/$label" \
        >"$work/$label.out" 2>"$work/$label.err" &
    svc=$!
    for _ in $(seq 100); do grep -q listening "$work/$label.out" 2>/dev/null && break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.:]*' "$work/$label.out")
}

# preload N: writes N items of 1 KB (ids 1..N on a fresh service).
preload() {
    local payload; payload=$(head -c 1024 /dev/zero | tr '\0' 'p')
    seq 1 "$1" | xargs -P 8 -I{} curl -sf -o /dev/null -XPOST "$url/api/v1/content" \
        -H 'content-type: application/json' -d "{\"user_id\":\"u{}\",\"payload\":\"$payload\"}"
}
