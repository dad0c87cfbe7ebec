#!/usr/bin/env bash
# Environment shared by every recipe (sourced by each recipe's path.sh with CIFST_ROOT set): the repository's venv
# and kenlm binaries first on PATH, the source tree importable, byte-order sorting, one BLAS thread by default.
export CIFST_ROOT
export PATH="$CIFST_ROOT/.venv/bin:$CIFST_ROOT/tools/kenlm/bin:$PATH"
export PYTHONPATH="$CIFST_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export LC_ALL=C.UTF-8
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
