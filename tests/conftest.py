"""Shared pytest fixtures. Tests mirror the packages (tests/asr/..., tests/lm, tests/decoding/...)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `pytest` (unlike `python -m pytest`) does not put the repository on sys.path; tests/asr, tests/lm... would then be
# imported as namespace packages shadowing the real `asr`, `lm` (the editable install's finder comes too late).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Test helper modules (fakes, brute-force references) sit beside the tests that use them and are imported by bare
# name (`from search_refs import FakeContext`). With --import-mode=importlib (needed because several packages have a
# test_cli.py) pytest no longer puts test directories on sys.path, so add the ones that hold such helpers.
for _d in sorted(
    {
        p.parent
        for p in (ROOT / "tests").rglob("*.py")
        if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
    }
):
    if str(_d) not in sys.path:
        sys.path.append(str(_d))

# Keep tests to one BLAS/torch thread: CI has 2 cores and pytest may run alongside other work.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def zipf_text() -> tuple[list[str], list[str]]:
    """``(lexicon, sentences)``: 400 pseudo-words over a small alphabet and 3,000 sentences of 3-12 of them drawn
    Zipf-distributed: plenty of shared substrings for BPE to merge (tokenizer and subword tests)."""
    import random

    rng = random.Random(7)
    letters = "etaoinshrdlucmfwyp"
    lexicon = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(400)]
    weights = [1.0 / (r + 1) for r in range(len(lexicon))]
    texts = [" ".join(rng.choices(lexicon, weights, k=rng.randint(3, 12))) for _ in range(3000)]
    return lexicon, texts


@pytest.fixture(scope="session")
def lmplz() -> Path:
    """Path of kenlm's lmplz built by tools/build_kenlm.sh; skips the test where it could not be built."""
    p = ROOT / "tools" / "kenlm" / "bin" / "lmplz"
    if not p.exists():
        found = shutil.which("lmplz")
        if found:
            return Path(found)
        pytest.skip("lmplz not built (tools/build_kenlm.sh failed or was skipped)")
    return p
