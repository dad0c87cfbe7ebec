"""``asr.malloc.tune_glibc_malloc``: after it, memory freed by a big tensor stays mapped in the process (so the next
step reuses the pages instead of faulting in new ones); without it glibc returns the block to the kernel at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only"
)

PROBE = textwrap.dedent(
    """
    import os, sys
    from asr.malloc import tune_glibc_malloc
    applied = tune_glibc_malloc() if sys.argv[1] == "tune" else False
    import torch

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    x = torch.ones(50_000_000)  # 200 MB, touched
    full = rss_mb()
    del x
    print(int(applied), round(full - rss_mb()))
    """
)


def run_probe(mode: str, **env) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    applied, released = out.stdout.split()
    return int(applied), float(released)


def test_freed_memory_stays_with_the_process_only_when_tuned():
    applied, released = run_probe("tune")
    if not applied:
        pytest.skip("not glibc")
    assert released < 20  # the 200 MB block stays in the heap for reuse
    _, released_plain = run_probe("plain")
    assert released_plain > 150  # default glibc: the mmapped block goes back to the kernel


def test_environment_switch_turns_it_off():
    applied, released = run_probe("tune", CIFST_NO_MALLOC_TUNING="1")
    assert applied == 0 and released > 150
