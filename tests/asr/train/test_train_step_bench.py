"""tools/bench/train_step.py still runs against the current model and config code (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
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


def test_train_step_bench_takes_the_vocabulary_from_tokens(tmp_path, capsys):
    """A config with ``model.interctc_vocab`` needs the symbols: ``--tokens`` gives them (and the vocabulary size);
    without it the bench says so."""
    spec = importlib.util.spec_from_file_location("train_step", ROOT / "tools/bench/train_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    conf = tmp_path / "hc.yaml"
    conf.write_text(
        "base: tiny\nmodel:\n  ctc_weight: 0.3\n  interctc_layers: [1]\n  interctc_conditioning: true\n"
        "  interctc_vocab: 12\n"
    )
    symbols = [
        "<blk>",
        "<sos/eos>",
        "<unk>",
        "▁t",
        "he",
        "▁the",
        "in",
        "▁",
        "t",
        "h",
        "e",
        "i",
        "n",
        "a",
        "s",
    ]
    (tmp_path / "tokens.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(symbols)))
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit, match="pass --tokens"):
            mod.main([str(conf), "--frames", "600", "--repeat", "1"])
        mod.main(
            [
                str(conf),
                "--tokens",
                str(tmp_path / "tokens.txt"),
                "--frames",
                "600",
                "--repeat",
                "1",
                "--variant",
                "ctc-only",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("vocab 15, 1 thread(s)") and out[2].startswith("ctc-only: ")
