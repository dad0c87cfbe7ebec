"""tools/bench/train_step.py still runs against the current model and config code (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]


def test_train_step_bench_runs_every_variant(capsys):
    spec = importlib.util.spec_from_file_location("train_step", ROOT / "tools/bench/train_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # compile-encoder spends ~100 s in the inductor's C++ compiler: too slow for the suite (run by hand)
    quick = [v for v in mod.VARIANTS if v != "compile-encoder"]
    variants = [a for v in quick for a in ("--variant", v)]
    threads = torch.get_num_threads()
    try:
        mod.main([str(ROOT / "asr/models/configs/tiny.yaml"), "--frames", "600", "--repeat", "1", *variants])
    finally:
        torch.set_num_threads(threads)  # the bench pins one thread; later tests in this process keep theirs
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("batch 2 x 45 LFR frames, 12 tokens, vocab 300, 1 thread(s)")
    assert out[1].startswith("as configured: ")
    assert [line.split(":")[0] for line in out[2:]] == quick
