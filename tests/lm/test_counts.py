"""lm.counts: suffix-order de-duplication against a plain-Python reference, sentence padding, tokenization,
memory sizes."""

from __future__ import annotations

import numpy as np
import pytest

from asr.errors import CifstError
from lm.counts import BOS, EOS, CountConfig, count_ngrams, parse_size, sort_unique_suffix, split_units


@pytest.mark.parametrize(
    "n,vocab", [(1, 50), (2, 50), (3, 50), (3, 3_000_000), (5, 50), (5, 70_000), (7, 200_000)]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_sort_unique_suffix_matches_python(n, vocab, weighted):
    rng = np.random.default_rng(n)
    rows = rng.integers(0, vocab, (5000, n)).astype(np.uint32)
    rows[:1000] = rows[1000:2000]  # duplicates
    counts = rng.integers(1, 5, 5000) if weighted else None
    got_rows, got_counts = sort_unique_suffix(rows, counts, vocab)
    ref: dict[tuple[int, ...], int] = {}
    for i, row in enumerate(map(tuple, rows.tolist())):
        ref[row] = ref.get(row, 0) + (int(counts[i]) if weighted else 1)
    keys = sorted(ref, key=lambda t: t[::-1])  # suffix order: last word first
    assert [tuple(r) for r in got_rows.tolist()] == keys
    assert got_counts.tolist() == [ref[k] for k in keys]


def test_padding_and_counts(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("x y\n\nx\n")
    c = count_ngrams([str(text)], CountConfig(order=3, progress=False))
    assert c.vocab[:5] == ["<unk>", "<s>", "</s>", "x", "y"]
    got = {tuple(c.vocab[i] for i in row): int(k) for row, k in zip(c.rows.tolist(), c.counts)}
    assert got == {
        ("<s>", "<s>", "x"): 2,
        ("<s>", "x", "y"): 1,
        ("x", "y", "</s>"): 1,
        ("<s>", "<s>", "</s>"): 1,
        ("<s>", "x", "</s>"): 1,
    }
    assert c.token_count == 3 and c.sentence_count == 3
    assert c.rows[:, -1].min() >= EOS and BOS not in c.rows[:, -1]


def test_split_units():
    assert split_units("a\tb  c\r d") == ["a", "b", "c", "d"]
    assert split_units("a\u3000b") == ["a\u3000b"]  # lmplz splits on ASCII space, tab, CR, NUL only
    assert split_units("我爱 Python3 编程，ok!", "char") == ["我", "爱", "Python3", "编", "程", "，", "ok!"]


def test_parse_size():
    assert parse_size("2G") == 2 << 30
    assert parse_size("500M") == 500 << 20
    assert parse_size("64") == 64 << 10  # bare number: KiB as lmplz
    assert 0 < parse_size("10%")
    with pytest.raises(CifstError):
        parse_size("lots")
