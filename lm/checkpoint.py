"""Resumable builds: the counts of an interrupted ``cifst lm build`` are kept on disk and reused by a rerun.

Input: the text files, :class:`lm.counts.CountConfig` and the work-directory root (``-T``). Output: an
:class:`lm.counts.NgramCounts` that either comes from counting or is loaded from a checkpoint of an earlier run with
the same inputs (same files, sizes and modification times; same order, unit and ``--skip_symbols``). Counting is
the stage that reads and tokenizes the whole corpus; the later stages stream from its result.

Layout: ``<root>/cifst-lm-<fingerprint>/`` holds, while counting, ``runs/`` (sorted runs spilled so far with a
manifest, :class:`lm.counts.CountConfig` ``resume_dir``: an interrupted count resumes after the last spill) and,
once counting is done, the merged order-N table (``rows.u32``, ``counts.i64``), the
vocabulary (``vocab.txt``, one word per line) and ``counts.json`` (written last, atomically: without it the
directory is an unfinished count and is counted again). The build removes the directory once the ARPA is written;
when it fails or is interrupted the directory stays and the message says so. Reading stdin is never resumable.

Idea after icefall's ``compile_hlg.py`` (skip the work that is already done); our own code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from asr.data.atomic import atomic_write
from lm.counts import CountConfig, NgramCounts, count_ngrams

__all__ = ["fingerprint", "work_dir_for", "count_with_checkpoint", "load_checkpoint", "finish_work_dir"]

_FORMAT = 1


def fingerprint(sources: list[str], config: CountConfig) -> str | None:
    """Hex digest identifying the counts of these inputs, or ``None`` when they cannot be re-read (stdin)."""
    items = []
    for s in sources:
        if str(s) == "-":
            return None
        st = os.stat(s)
        items.append([os.path.abspath(s), st.st_size, st.st_mtime_ns])
    key = {
        "format": _FORMAT,
        "sources": items,
        "order": config.order,
        "unit": config.unit,
        "skip_symbols": config.skip_symbols,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def work_dir_for(sources: list[str], config: CountConfig) -> Path | None:
    """The work directory of a resumable build, or ``None`` for stdin input."""
    fp = fingerprint(sources, config)
    if fp is None:
        return None
    root = Path(config.temp_prefix) if config.temp_prefix else Path(tempfile.gettempdir())
    return root / f"cifst-lm-{fp}"


def load_checkpoint(work: Path, order: int) -> NgramCounts | None:
    """The counts saved in ``work`` (memory-mapped), or ``None`` when there is no complete checkpoint."""
    meta_path = work / "counts.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != _FORMAT or meta.get("order") != order:
            return None
        m = int(meta["ngrams"])
        vocab = (work / "vocab.txt").read_text(encoding="utf-8").split("\n")[: int(meta["vocab_size"])]
        if len(vocab) != int(meta["vocab_size"]):
            return None
        if m:
            rows = np.memmap(work / "rows.u32", np.uint32, "r", shape=(m, order))
            counts = np.memmap(work / "counts.i64", np.int64, "r", shape=(m,))
        else:
            rows, counts = np.zeros((0, order), np.uint32), np.zeros(0, np.int64)
    except (OSError, ValueError, KeyError):
        return None
    return NgramCounts(
        order=order,
        vocab=vocab,
        rows=rows,
        counts=counts,
        token_count=int(meta["token_count"]),
        sentence_count=int(meta["sentence_count"]),
    )


def _save(counts: NgramCounts, work: Path) -> NgramCounts:
    """Move or write the counts into ``work`` and write the manifest; returns counts backed by those files."""
    m = len(counts.counts)
    for name, arr, dtype in (("rows.u32", counts.rows, np.uint32), ("counts.i64", counts.counts, np.int64)):
        dst = work / name
        src = getattr(arr, "filename", None)
        if src is not None and Path(src).parent.parent == work:  # spilled and merged inside the work dir
            os.replace(src, dst)
        else:
            with open(dst, "wb") as f:
                for s in range(0, m, 1 << 20):
                    f.write(np.ascontiguousarray(arr[s : s + (1 << 20)], dtype).tobytes())
    with atomic_write(work / "vocab.txt", "w") as f:
        f.write("\n".join(counts.vocab))
    meta = {
        "format": _FORMAT,
        "order": counts.order,
        "ngrams": m,
        "vocab_size": len(counts.vocab),
        "token_count": counts.token_count,
        "sentence_count": counts.sentence_count,
    }
    counts.close()  # removes the spill directory (its results were moved out)
    with atomic_write(work / "counts.json", "w") as f:
        json.dump(meta, f)
    loaded = load_checkpoint(work, meta["order"])
    assert loaded is not None
    return loaded


def count_with_checkpoint(
    sources: list[str], config: CountConfig, log=None
) -> tuple[NgramCounts, Path | None]:
    """Count, or reuse the counts of an interrupted run with the same inputs.

    Args:
        sources: Text files or ``["-"]``.
        config: Counting settings; ``temp_prefix`` is the root of the work directory.
        log: Callable for one-line messages, or ``None``.

    Returns:
        (counts, work directory to remove after a successful build, or ``None`` for stdin input, where counting
        used a private temporary directory that ``counts.close()`` removes).
    """
    work = work_dir_for(sources, config)
    if work is None:
        return count_ngrams(sources, config), None
    found = load_checkpoint(work, config.order)
    if found is not None:
        if log:
            log(f"reusing the counts of an earlier run in {work} (same text files and settings)")
        return found, work
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("cifst-lm-*"):  # stage directories of a run that did not finish
        shutil.rmtree(stale, ignore_errors=True)
    inner = CountConfig(
        order=config.order,
        unit=config.unit,
        memory=config.memory,
        temp_prefix=str(work),
        skip_symbols=config.skip_symbols,
        progress=config.progress,
        resume_dir=str(work / "runs"),
    )
    try:
        counts = count_ngrams(sources, inner)
    except BaseException:
        finish_work_dir(work, False)
        raise
    return _save(counts, work), work


def finish_work_dir(work: Path | None, success: bool) -> None:
    """After a build: remove the work directory on success; on failure keep it when it holds finished counts."""
    if work is None:
        return
    done = (work / "counts.json").exists()
    if success or not (done or (work / "runs" / "runs.json").exists()):
        shutil.rmtree(work, ignore_errors=True)
        return
    what = "the counts are" if done else "the sorted count runs written so far are"
    print(
        f"cifst lm build: {what} kept in {work}; rerun the same command (same text files, -o, --unit, -T) to "
        "continue from there, or delete that directory",
        file=sys.stderr,
    )
