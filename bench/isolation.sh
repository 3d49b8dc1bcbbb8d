#!/usr/bin/env bash
# Per-step overhead of `isolation: sandbox` (bubblewrap) against `isolation: process`.
#
# 50 trivial steps (`true`), run with --no-cache so that every step executes, with -j 1
# (the overhead adds up serially) and -j 2, plus two sandboxed variants where each step
# declares 200 input files: in a directory holding only them (bound whole: one mount)
# and in one that also holds an undeclared file (bound one by one: 200 mounts).
#
#   cargo build --release && bench/isolation.sh            # needs hyperfine, bwrap
#   ATTEST=/path/to/attest RUNS=20 bench/isolation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ATTEST="${ATTEST:-$PWD/target/release/attest}"
RUNS="${RUNS:-10}"
STEPS=50
for tool in hyperfine bwrap python3; do
    command -v "$tool" >/dev/null || { echo "bench/isolation.sh needs $tool" >&2; exit 1; }
done
[ -x "$ATTEST" ] || { echo "build attest first: cargo build --release" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# pipeline NAME INPUTS: a workspace of $STEPS independent steps with these inputs.
pipeline() {
    local dir="$work/$1" inputs="$2"
    mkdir -p "$dir"
    {
        echo 'version: "0.1"'
        echo 'steps:'
        for i in $(seq -w 1 "$STEPS"); do
            echo "  s$i: { run: \"true\", inputs: $inputs }"
        done
    } >"$dir/attest.yaml"
    echo "$dir"
}
trivial="$(pipeline trivial '[]')"
whole="$(pipeline whole '[src/]')"
one_by_one="$(pipeline one_by_one '["src/*.c"]')"
for dir in "$whole" "$one_by_one"; do
    mkdir -p "$dir/src"
    for i in $(seq 1 200); do echo "int f$i;" >"$dir/src/f$i.c"; done
done
echo "not declared" >"$one_by_one/src/README"

run() { echo "cd $1 && $ATTEST run --no-cache -q -j $2 --isolation $3"; }
hyperfine --warmup 2 --runs "$RUNS" --export-json "$work/results.json" \
    -n "process -j1" "$(run "$trivial" 1 process)" \
    -n "sandbox -j1" "$(run "$trivial" 1 sandbox)" \
    -n "process -j2" "$(run "$trivial" 2 process)" \
    -n "sandbox -j2" "$(run "$trivial" 2 sandbox)" \
    -n "sandbox -j1, 200 inputs, 1 mount" "$(run "$whole" 1 sandbox)" \
    -n "sandbox -j1, 200 inputs, 200 mounts" "$(run "$one_by_one" 1 sandbox)"

python3 - "$work/results.json" "$STEPS" <<'EOF'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
steps = int(sys.argv[2])
base = {"-j1": results["process -j1"]["median"], "-j2": results["process -j2"]["median"]}
print(f"\n| run ({steps} steps, --no-cache) | median | per step | overhead per step vs process |")
print("|---|---|---|---|")
for name, r in results.items():
    jobs = "-j2" if "-j2" in name else "-j1"
    median = r["median"]
    overhead = "" if name.startswith("process") else f"{(median - base[jobs]) / steps * 1000:.1f} ms"
    print(f"| {name} | {median:.3f} s | {median / steps * 1000:.1f} ms | {overhead} |")
EOF
