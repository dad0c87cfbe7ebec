"""An interrupted ``cifst lm build`` keeps its finished counts in the work directory (-T) and a rerun with the same
text and settings reuses them (no second count) to write the same ARPA; other inputs or settings count afresh; the
ARPA never appears half-written; stdin builds leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

import lm.checkpoint
import lm.streaming
from asr.cli import main as cifst
from lm.build import LmBuildConfig, build_arpa
from lm.checkpoint import work_dir_for
from lm.counts import CountConfig

FORTUNES = Path("/usr/share/games/fortunes")


@pytest.fixture()
def text(tmp_path) -> Path:
    if not (FORTUNES / "science").exists():
        pytest.skip("fortunes not installed")
    p = tmp_path / "en.txt"
    p.write_bytes((FORTUNES / "science").read_bytes())
    return p


def config(tmp_path: Path, **kw) -> LmBuildConfig:
    return LmBuildConfig(order=3, progress=False, verbose=False, temp_prefix=str(tmp_path / "work"), **kw)


def interrupt_after_counting(monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(lm.streaming, "adjust_to_disk", boom)


def forbid_counting(monkeypatch):
    def no(*a, **k):
        raise AssertionError("counted again although a checkpoint exists")

    monkeypatch.setattr(lm.checkpoint, "count_ngrams", no)


@pytest.mark.parametrize("memory", [1 << 30, 1 << 21])  # counts in memory / spilled and merged on disk
def test_rerun_after_interrupt_reuses_the_counts(text, tmp_path, monkeypatch, capsys, memory):
    fresh = tmp_path / "fresh.arpa"
    build_arpa([str(text)], fresh, LmBuildConfig(order=3, progress=False, verbose=False))

    out = tmp_path / "lm.arpa"
    cfg = config(tmp_path, memory=memory)
    with monkeypatch.context() as m:
        interrupt_after_counting(m)
        with pytest.raises(KeyboardInterrupt):
            build_arpa([str(text)], out, cfg)
    assert not out.exists()  # nothing half-written
    work = work_dir_for([str(text)], CountConfig(order=3, temp_prefix=cfg.temp_prefix))
    assert (work / "counts.json").exists()
    assert str(work) in capsys.readouterr().err  # the user is told where the work is and how to resume

    with monkeypatch.context() as m:
        forbid_counting(m)
        build_arpa([str(text)], out, cfg)
    assert out.read_bytes() == fresh.read_bytes()
    assert not work.exists()  # removed after success


def test_changed_text_or_order_counts_again(text, tmp_path, monkeypatch):
    cfg = config(tmp_path)
    with monkeypatch.context() as m:
        interrupt_after_counting(m)
        with pytest.raises(KeyboardInterrupt):
            build_arpa([str(text)], tmp_path / "a.arpa", cfg)
    old = work_dir_for([str(text)], CountConfig(order=3, temp_prefix=cfg.temp_prefix))
    assert old.exists()
    # another order: a different checkpoint
    assert work_dir_for([str(text)], CountConfig(order=4, temp_prefix=cfg.temp_prefix)) != old
    # the text changes: a different checkpoint, the old one is not used
    text.write_text(text.read_text() + "one more line\n")
    assert work_dir_for([str(text)], CountConfig(order=3, temp_prefix=cfg.temp_prefix)) != old
    build_arpa([str(text)], tmp_path / "b.arpa", cfg)
    assert not (tmp_path / "a.arpa").exists()
    assert "\tone more\t" in (tmp_path / "b.arpa").read_text()  # counted from the new text


def test_counting_error_leaves_no_work_dir_and_discount_error_keeps_counts(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("a b\nc <s> d\n")
    assert cifst(["lm", "build", "-o", "2", "--quiet", "-T", str(tmp_path / "w"), str(bad)]) == 1
    assert not list((tmp_path / "w").iterdir())
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a b c\nb c d\na b\n")
    args = [
        "lm",
        "build",
        "-o",
        "3",
        "--quiet",
        "-T",
        str(tmp_path / "w"),
        "--arpa",
        str(tmp_path / "t.arpa"),
    ]
    assert cifst([*args, str(tiny)]) == 1  # discounts cannot be estimated
    kept = list((tmp_path / "w").iterdir())
    assert len(kept) == 1 and (kept[0] / "counts.json").exists()
    assert "--discount_fallback" in capsys.readouterr().err
    assert cifst([*args, "--discount_fallback", str(tiny)]) == 0  # reuses the counts, then cleans up
    assert (tmp_path / "t.arpa").exists() and not list((tmp_path / "w").iterdir())


def test_count_interrupted_between_spills_resumes_after_the_last_one(tmp_path, monkeypatch, capsys):
    if not (FORTUNES / "people").exists():
        pytest.skip("fortunes not installed")
    text = tmp_path / "big.txt"
    body = b"".join((FORTUNES / f).read_bytes() for f in ("science", "computers", "people"))
    text.write_bytes(body + body[: len(body) // 2])  # ~140k words: several 256K-character blocks
    fresh = tmp_path / "fresh.arpa"
    build_arpa([str(text)], fresh, LmBuildConfig(order=3, progress=False, verbose=False))
    cfg = config(tmp_path, memory=1 << 20)  # a spilled run after every block of text
    out = tmp_path / "lm.arpa"

    import lm.counts

    real_save = lm.counts._save_manifest
    calls = []

    def save_then_die(*a, **k):
        real_save(*a, **k)
        calls.append(a[4])  # the input position saved
        if len(calls) == 2:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(lm.counts, "_save_manifest", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            build_arpa([str(text)], out, cfg)
    assert not out.exists()
    work = work_dir_for([str(text)], CountConfig(order=3, temp_prefix=cfg.temp_prefix))
    assert (work / "runs" / "runs.json").exists() and not (work / "counts.json").exists()
    assert "count runs written so far" in capsys.readouterr().err

    real_iter = lm.counts._iter_line_blocks
    skips = []

    def record(sources, *a, skip=(0, 0), **k):
        skips.append(skip)
        return real_iter(sources, *a, skip=skip, **k)

    with monkeypatch.context() as m:
        m.setattr(lm.counts, "_iter_line_blocks", record)
        build_arpa([str(text)], out, cfg)
    assert skips == [tuple(calls[-1])] and skips[0][1] > 0  # started after the lines already counted
    assert "resuming the count" in capsys.readouterr().err
    assert out.read_bytes() == fresh.read_bytes()
    assert not work.exists()
