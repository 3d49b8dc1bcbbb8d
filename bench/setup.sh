#!/usr/bin/env bash
# Idempotent setup of the peer benchmark harness (see README.md, "Quick start").
#
#   ./setup.sh            install tools + generate projects/n200 and projects/n2000
#   ./setup.sh --tools    only install the tools
#
# Installs (skipping whatever is already there):
#   apt:   hyperfine, b3sum, xxhash (b3sum/xxhash are optional: hashbench.sh only)
#   npm:   turbo                                   -> tools/node_modules/.bin/turbo
#   PyPI:  ninja go-task-bin rust-just blake3 pyyaml -> tools/venv/bin/{ninja,task,just,python}
# Generates (skipping a project that already exists):
#   projects/n200   200 tasks,  10k files, big files 10,50 MB
#   projects/n2000  2000 tasks, 100k files, big files 10,40,100 MB
# tools/, projects/ and results/ are git-ignored: never commit them.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$BENCH_DIR"
ONLY_TOOLS=0
[ "${1:-}" = "--tools" ] && ONLY_TOOLS=1

log() { echo "setup: $*"; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# ---- apt: hyperfine (required), b3sum + xxhash (hashbench only) -----------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v b3sum     >/dev/null || missing+=(b3sum)
command -v xxhsum    >/dev/null || missing+=(xxhash)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -q >/dev/null
  if ! $SUDO apt-get install -y -q "${missing[@]}" >/dev/null; then
    # one package may not exist on this distro: install what can be installed
    for p in "${missing[@]}"; do
      $SUDO apt-get install -y -q "$p" >/dev/null || log "WARNING: apt package $p not available"
    done
  fi
else
  log "hyperfine, b3sum, xxhsum present"
fi
command -v hyperfine >/dev/null || { log "ERROR: hyperfine is required"; exit 1; }

# ---- npm: turbo -------------------------------------------------------------
mkdir -p tools
if [ -x tools/node_modules/.bin/turbo ]; then
  log "turbo present"
else
  log "npm install turbo"
  (cd tools && npm install --no-audit --no-fund turbo)
fi

# ---- PyPI: ninja, go-task, just, blake3 + pyyaml (for refrun.py) ------------
if [ ! -x tools/venv/bin/python ]; then
  log "python3 -m venv tools/venv"
  python3 -m venv tools/venv
fi
if [ -x tools/venv/bin/ninja ] && [ -x tools/venv/bin/task ] && [ -x tools/venv/bin/just ] &&
   tools/venv/bin/python -c 'import blake3, yaml' 2>/dev/null; then
  log "ninja, task, just, blake3, pyyaml present"
else
  log "pip install ninja go-task-bin rust-just blake3 pyyaml"
  tools/venv/bin/pip install -q ninja go-task-bin rust-just blake3 pyyaml
fi

# ---- every tool must answer --version -----------------------------------------
export PATH="$BENCH_DIR/tools/node_modules/.bin:$BENCH_DIR/tools/venv/bin:$PATH"
fail=0
for t in hyperfine turbo task ninja just make b3sum xxhsum; do
  if v=$("$t" --version 2>&1); then
    log "  $t: ${v%%$'\n'*}"
  else
    log "  $t: MISSING"
    case $t in b3sum|xxhsum) ;; *) fail=1 ;; esac
  fi
done
[ "$fail" = 0 ] || { log "ERROR: a required tool is missing"; exit 1; }
[ "$ONLY_TOOLS" = 1 ] && exit 0

# ---- projects -----------------------------------------------------------------
# attest requires `version: "0.1"` (and accepts `name:`) at the top of attest.yml;
# gen.py's emit_attest() writes them, this patches projects made by an older gen.py.
patch_attest() {
  local f=$1/attest.yml
  if ! grep -q '^version:' "$f"; then
    log "patching $f (prepend version/name)"
    { printf 'version: "0.1"\nname: bench\n'; cat "$f"; } > "$f.tmp" && mv "$f.tmp" "$f"
    if [ -d "$1/.git" ]; then
      (cd "$1" && git -c user.name=bench -c user.email=bench@localhost commit -q -m "attest.yml: version/name" attest.yml &&
        git update-index -q --really-refresh >/dev/null || true)
    fi
  fi
}

gen() {  # $1 = name, rest = gen.py args
  local name=$1; shift
  local dir=projects/$name
  if [ -d "$dir" ]; then
    log "$dir exists, not regenerating"
  else
    log "generating $dir ($*)"
    mkdir -p projects
    rm -rf "$dir.tmp"
    # generate aside, then rename: an interrupted run leaves no half project behind
    python3 gen.py --out "$dir.tmp" "$@" >/dev/null
    mv "$dir.tmp" "$dir"
    (cd "$dir" && git update-index -q --really-refresh >/dev/null || true)
  fi
  patch_attest "$dir"
}
gen n200  --tasks 200  --files 10000  --big-mb 10,50
gen n2000 --tasks 2000 --files 100000 --big-mb 10,40,100
log "done: $(du -sh projects 2>/dev/null | cut -f1) in projects/"
