#!/usr/bin/env python3
"""Check the dev profile's per-crate optimisation levels against the dependency graph.

The workspace optimises dependencies (`[profile.dev.package] "*" = { opt-level = 2 }`) because
the debug build is what `cargo run -p loadgen` measures. That entry outranks
`[profile.dev.build-override]`, so every crate that only runs at build time (proc macros,
build scripts, what only they use) needs its own `opt-level = 0` line or the build spends
minutes optimising code that runs once. This check fails when
  * a build-only crate of the graph has no such line (the build got slower), or
  * a crate with `opt-level = 0` is also a run-time dependency (the run got slower),
    except the AWS SDK's (RUN_TIME_AT_ZERO_PREFIX), at -O0 on purpose.
Build-only = in `cargo tree -e normal,build,dev` but not in `cargo tree -e normal,dev,no-proc-macro`.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run-time crates that may stay at -O0 deliberately (see the comment in Cargo.toml): the AWS
# SDK and its crypto, which no measured path runs.
RUN_TIME_AT_ZERO_PREFIX = "aws-"


def names(edges: str) -> set[str]:
    out = subprocess.run(
        ["cargo", "tree", "--workspace", "-e", edges, "--prefix", "none", "-f", "{p}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    found = {line.split()[0] for line in out.splitlines() if line.strip()}
    if not found:
        sys.exit(f"cargo tree -e {edges} printed nothing: the check could not run")
    return found


def main() -> int:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    packages = manifest["profile"]["dev"]["package"]
    at_zero = {name for name, p in packages.items() if name != "*" and p.get("opt-level") == 0}
    everything = names("normal,build,dev")
    run_time = names("normal,dev,no-proc-macro")
    build_only = everything - run_time
    missing = sorted(build_only - at_zero)
    slowed = sorted(n for n in at_zero & run_time if not n.startswith(RUN_TIME_AT_ZERO_PREFIX))
    for name in missing:
        print(f"{name} only runs at build time: add `{name} = {{ opt-level = 0 }}` to [profile.dev.package]")
    for name in slowed:
        print(f"{name} is also a run-time dependency: remove its opt-level = 0 line from [profile.dev.package]")
    stale = sorted(at_zero - everything)
    for name in stale:
        print(f"note: {name} has an opt-level line but is no longer in the graph")
    if not (missing or slowed):
        print(f"host-only profile: {len(build_only)} build-only crates, all at opt-level 0")
    return 1 if missing or slowed else 0


if __name__ == "__main__":
    sys.exit(main())
