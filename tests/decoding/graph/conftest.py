"""Fixtures of the graph tests (inputs written to tmp_path); the data and helpers are in graph_test_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from graph_test_helpers import HAND_ARPA, LEXICON, TOKENS, random_corpus

from asr.text.symbol_table import SymbolTable


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    p = tmp_path / "tokens.txt"
    SymbolTable(TOKENS).write(p)
    return p


@pytest.fixture
def lexicon_file(tmp_path: Path) -> Path:
    p = tmp_path / "lexicon.txt"
    p.write_text(LEXICON)
    return p


@pytest.fixture
def hand_arpa(tmp_path: Path) -> Path:
    p = tmp_path / "hand.arpa"
    p.write_text(HAND_ARPA)
    return p


@pytest.fixture
def lm3_arpa(tmp_path: Path, lmplz) -> Path:
    """A 3-gram ARPA from lmplz over the lexicon's words (lmplz adds <unk>)."""
    import subprocess

    corpus = random_corpus(tmp_path / "corpus.txt", list("abcdefg"), 400, seed=1)
    out = tmp_path / "lm3.arpa"
    with open(corpus, "rb") as fin, open(out, "wb") as fout:
        subprocess.run(
            [str(lmplz), "-o", "3", "--discount_fallback", "-S", "10%"],
            stdin=fin,
            stdout=fout,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    return out
