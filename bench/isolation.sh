#!/usr/bin/env bash
# Per-step overhead of the four isolation levels: process, sandbox (bubblewrap, with
# Landlock where the kernel has it), container (podman, and runc over umoci) and vm (QEMU).
#
# 50 trivial steps (`true`), run with --no-cache so that every step executes, with -j 1
# (the overhead adds up serially) and -j 2, plus two sandboxed variants where each step
# declares 200 input files: in a directory holding only them (bound whole: one mount)
# and in one that also holds an undeclared file (bound one by one: 200 mounts).
# Containers run a busybox image built offline (`podman import`, as the tests do) when
# podman and busybox-static are installed; VMs boot the default kernel when QEMU is
# installed (few runs: each VM step takes seconds under TCG).
#
#   cargo build --release && bench/isolation.sh            # needs hyperfine, bwrap
#   ATTEST=/path/to/attest RUNS=20 VM_RUNS=2 bench/isolation.sh   # VM_RUNS=0: no VM rows
set -euo pipefail
cd "$(dirname "$0")/.."
ATTEST="${ATTEST:-$PWD/target/release/attest}"
RUNS="${RUNS:-10}"
VM_RUNS="${VM_RUNS:-2}"
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
results=("$work/results.json")

# Containers: a busybox image imported offline, its digest pinned in every step.
if command -v podman >/dev/null && [ -x /bin/busybox ]; then
    rootfs="$work/rootfs"
    mkdir -p "$rootfs/bin"
    cp /bin/busybox "$rootfs/bin/"
    for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
    tar -C "$rootfs" -cf "$work/rootfs.tar" .
    podman import --quiet "$work/rootfs.tar" localhost/attest-bench-busybox:latest >/dev/null
    digest="$(podman image inspect --format '{{.Digest}}' localhost/attest-bench-busybox:latest)"
    containers="$(pipeline containers "[]")"
    sed -i "s|inputs: \[\] }|inputs: [], isolation: container, image: \"localhost/attest-bench-busybox@$digest\" }|" "$containers/attest.yaml"
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/containers.json" \
        -n "container -j1" "cd $containers && $ATTEST run --no-cache -q -j 1" \
        -n "container -j2" "cd $containers && $ATTEST run --no-cache -q -j 2"
    results+=("$work/containers.json")
    # The same image as a local OCI archive, run by runc over what umoci unpacked (the
    # engine attest uses without podman); the warmup run unpacks it.
    if command -v runc >/dev/null && command -v umoci >/dev/null; then
        runc_ws="$(pipeline runc "[]")"
        podman save --quiet --format oci-archive -o "$runc_ws/image.tar" localhost/attest-bench-busybox:latest
        sed -i 's|inputs: \[\] }|inputs: [], isolation: container, image: "oci-archive:image.tar" }|' "$runc_ws/attest.yaml"
        hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/runc.json" \
            -n "container (runc) -j1" "cd $runc_ws && ATTEST_CONTAINER_ENGINE=runc $ATTEST run --no-cache -q -j 1" \
            -n "container (runc) -j2" "cd $runc_ws && ATTEST_CONTAINER_ENGINE=runc $ATTEST run --no-cache -q -j 2"
        results+=("$work/runc.json")
    else
        echo "isolation.sh: runc or umoci missing: no runc rows" >&2
    fi
else
    echo "isolation.sh: podman or busybox-static missing: no container rows" >&2
fi

# VMs: the default kernel under TCG (or KVM with ATTEST_VM_ACCEL=kvm); the first run
# unpacks the kernel and builds the initramfs (not timed: --warmup 1).
if [ "$VM_RUNS" -gt 0 ] && command -v qemu-system-x86_64 >/dev/null; then
    hyperfine --warmup 1 --runs "$VM_RUNS" --export-json "$work/vms.json" \
        -n "vm -j2" "$(run "$trivial" 2 vm)"
    results+=("$work/vms.json")
else
    echo "isolation.sh: VM_RUNS=0 or qemu-system-x86_64 missing: no vm rows" >&2
fi

python3 - "$STEPS" "${results[@]}" <<'EOF'
import json, sys
steps = int(sys.argv[1])
results = {r["command"]: r for path in sys.argv[2:] for r in json.load(open(path))["results"]}
base = {"-j1": results["process -j1"]["median"], "-j2": results["process -j2"]["median"]}
print(f"\n| run ({steps} steps, --no-cache) | median | per step | overhead per step vs process |")
print("|---|---|---|---|")
for name, r in results.items():
    jobs = "-j2" if "-j2" in name else "-j1"
    median = r["median"]
    overhead = "" if name.startswith("process") else f"{(median - base[jobs]) / steps * 1000:.1f} ms"
    print(f"| {name} | {median:.3f} s | {median / steps * 1000:.1f} ms | {overhead} |")
EOF
