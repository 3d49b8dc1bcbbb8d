#!/usr/bin/env bash
# Time attest against turbo, go-task, ninja and make on the generated projects.
#
#   ./run.sh [ATTEST_BIN]     default ATTEST_BIN: ../target/release/attest (relative to bench/)
#
# env: OUT=results dir (default results/attest-<timestamp>), JOBS (default 2),
#      HASH_COLD=0 to skip the dropped-page-cache hashing runs.
#
#   n200 : all scenarios, tools "attest turbo task ninja make", -r 5 -c 3
#   n2000: "null touch edit-sink restore" with all five tools (-r 5), then
#          cold with -c 1 WITHOUT turbo (turbo cold on 2000 tasks takes many
#          minutes: it spends ~0.2 s CPU per task spawning `npm run`). Note that
#          turbo still does one untimed full build on n2000 before the warm
#          scenarios, so expect that part to take several minutes.
#   watch: attest with `attest watch` running, beside turbo, warm scenarios, both projects
#   hash : hashbench.sh on n2000 (raw hashing floor: stat walk, b3sum, sha256sum, xxh3)
# Reports: $OUT/n200/report.md, $OUT/n2000/report.md (ratios vs attest),
#          $OUT/hash-n2000/report.md
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$BENCH_DIR"

ATTEST=${1:-../target/release/attest}
[ -x "$ATTEST" ] || { echo "run.sh: attest binary not found or not executable: $ATTEST (build it: cargo build --release)" >&2; exit 2; }
ATTEST=$(cd "$(dirname "$ATTEST")" && pwd)/$(basename "$ATTEST")

./setup.sh   # idempotent: tools + projects, quick when already present

export JOBS=${JOBS:-2}
export CUSTOM_NAME=attest
export CUSTOM_RUN="$ATTEST run -f attest.yml -j $JOBS --quiet"
export CUSTOM_CLEAN="rm -rf .attest"
CUSTOM_VERSION=$("$ATTEST" --version 2>/dev/null | head -n1 || true)
export CUSTOM_VERSION=${CUSTOM_VERSION:-"$ATTEST"}
OUT=${OUT:-results/attest-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
echo "run.sh: attest=$ATTEST jobs=$JOBS results=$OUT"

# -- n200: everything --------------------------------------------------------------
./bench.sh -p projects/n200 -t "custom turbo task ninja make" -r 5 -c 3 -o "$OUT/n200"

# -- n2000: warm scenarios with all tools, cold without turbo -------------------------
./bench.sh -p projects/n2000 -t "custom turbo task ninja make" -s "null touch edit-sink restore" -r 5 -o "$OUT/n2000"
./bench.sh -p projects/n2000 -t "custom task ninja make" -s "cold" -c 1 -o "$OUT/n2000"

# -- attest with its watcher (`attest watch`), beside turbo: warm scenarios only. bench.sh
#    first cleans each tool's state (for attest `rm -rf .attest`, which ends a watcher) and
#    then runs CUSTOM_START; CUSTOM_STOP fails the run if the watcher died on the way.
for p in n200 n2000; do
  CUSTOM_NAME=attest-watch CUSTOM_START="$ATTEST watch --background -f attest.yml" \
    CUSTOM_STOP="$ATTEST watch --status -f attest.yml && $ATTEST watch --stop -f attest.yml" \
    ./bench.sh -p "projects/$p" -t "custom turbo" -s "null touch edit-sink restore" -r 5 -o "$OUT/$p-watch"
done

for p in n200 n2000 n200-watch n2000-watch; do
  python3 report.py "$OUT/$p" --baseline "$( [[ $p == *-watch ]] && echo attest-watch || echo attest )" > "$OUT/$p/report.md"
done

# -- hashing floor on n2000 ----------------------------------------------------------
cold=(--cold); [ "${HASH_COLD:-1}" = 0 ] && cold=()
ATTEST_BIN="$ATTEST" ./hashbench.sh -p projects/n2000 -o "$OUT/hash-n2000" "${cold[@]}"

echo; echo "=== n200 ==="; cat "$OUT/n200/report.md"
echo; echo "=== n2000 ==="; cat "$OUT/n2000/report.md"
echo; echo "=== n200, attest with its watcher ==="; cat "$OUT/n200-watch/report.md"
echo; echo "=== n2000, attest with its watcher ==="; cat "$OUT/n2000-watch/report.md"
echo; echo "=== hashing (n2000) ==="; cat "$OUT/hash-n2000/report.md"
