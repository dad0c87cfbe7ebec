#!/usr/bin/env bash
# Idempotent set-up of cifst on a fresh Debian 12 machine.
#   apt packages (audio tools, voices, text corpora, kenlm build deps) -> .venv -> torch (CPU) -> cifst[dev]
#   -> kenlm's lmplz built from its PyPI sdist into tools/kenlm/bin (the reference for tests and benchmarks).
# Usage: tools/install.sh [--no-apt] [--no-kenlm]
# Re-running skips every step already done (stamp files under .venv/.stamps).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
do_apt=1
do_kenlm=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) do_apt=0 ;;
    --no-kenlm) do_kenlm=0 ;;
    *) echo "install.sh: unknown option '$arg' (known: --no-apt --no-kenlm)" >&2; exit 2 ;;
  esac
done

log() { printf '[install] %s\n' "$*" >&2; }

APT_PACKAGES=(
  sox libsox-fmt-all espeak-ng libespeak-ng1 flite festival festvox-kallpc16k festvox-rablpc16k festvox-us1
  libttspico-utils
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
  fortunes fortunes-min fortunes-zh wamerican wordnet-base
  cmake build-essential libboost-program-options-dev libboost-system-dev libboost-thread-dev
  libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev libsndfile1
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ "$do_apt" = 1 ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    # mbrola voices and pico2wave live in Debian's contrib and non-free components.
    src=/etc/apt/sources.list.d/debian.sources
    if [ -f "$src" ] && ! grep -q "non-free" "$src"; then
      log "enabling contrib non-free in $src"
      $SUDO sed -i 's/^Components: main$/Components: main contrib non-free/' "$src"
    fi
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "apt packages present"
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
mkdir -p .venv/.stamps
VPY="$here/.venv/bin/python"

if ! "$VPY" -c "import torch" 2>/dev/null; then
  log "pip install torch==2.13.0 (CPU)"
  "$VPY" -m pip install -q torch==2.13.0
fi

stamp=.venv/.stamps/pyproject.$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  log "pip install -e .[dev]"
  "$VPY" -m pip install -q -e ".[dev]"
  touch "$stamp"
fi

if [ "$do_kenlm" = 1 ] && [ ! -x tools/kenlm/bin/lmplz ]; then
  log "building kenlm lmplz from the PyPI sdist (reference for tests and benchmarks)"
  bash tools/build_kenlm.sh || log "WARNING: lmplz did not build; tests that compare with it will be skipped"
fi
log "done: activate with 'source .venv/bin/activate'"
