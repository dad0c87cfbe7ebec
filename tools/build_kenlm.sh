#!/usr/bin/env bash
# Build kenlm's lmplz (and build_binary, query) from the kenlm sdist on PyPI into tools/kenlm/bin.
# Needs cmake, a C++ compiler and Debian's Boost, zlib, bz2, lzma dev packages (tools/install.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/tools/kenlm"
[ -x "$out/bin/lmplz" ] && { echo "lmplz already built: $out/bin/lmplz"; exit 0; }
for tool in cmake make g++; do
  command -v "$tool" >/dev/null || { echo "build_kenlm.sh: '$tool' not found; run tools/install.sh" >&2; exit 1; }
done
VPY="${VPY:-$here/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$VPY" -m pip download -q --no-deps --no-binary kenlm -d "$work" kenlm
tar -xzf "$work"/kenlm-*.tar.gz -C "$work"
srcdir="$(find "$work" -maxdepth 1 -type d -name 'kenlm-*' | head -1)"
mkdir -p "$srcdir/build"
if ! ( cd "$srcdir/build" && cmake .. -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=7 \
       && make -j"$(nproc)" lmplz build_binary query ) >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log" >&2
  echo "build_kenlm.sh: kenlm build failed (log above)" >&2
  exit 1
fi
mkdir -p "$out/bin"
cp "$srcdir/build/bin/lmplz" "$srcdir/build/bin/build_binary" "$srcdir/build/bin/query" "$out/bin/"
echo "built $out/bin/lmplz"
