"""The on-disk, order-by-order pipeline (:mod:`lm.streaming`, what ``cifst lm build`` runs for modified Kneser-Ney)
writes the same bytes as the in-memory reference (:mod:`lm.adjust` + :mod:`lm.interpolate` + ``write_model_arpa``),
whatever the block size, with pruning, a limit vocabulary and counts spilled to disk; its adjust stage gives the
same tables and count-of-counts as :func:`lm.adjust.build_tables`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lm.adjust import build_tables
from lm.build import LmBuildConfig, _allowed_words, _count_config, _write_model, build_arpa, build_lm
from lm.counts import count_ngrams
from lm.discount import kneser_ney_discounts
from lm.streaming import adjust_to_disk, write_mkn_arpa_streaming

FORTUNES = Path("/usr/share/games/fortunes")


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> Path:
    if not (FORTUNES / "science").exists():
        pytest.skip("fortunes not installed")
    p = tmp_path_factory.mktemp("en") / "en.txt"
    p.write_bytes(b"".join((FORTUNES / f).read_bytes() for f in ("science", "people")))
    return p


def reference_arpa(text: Path, out: Path, cfg: LmBuildConfig) -> bytes:
    _write_model(build_lm([str(text)], cfg), out, cfg)
    return out.read_bytes()


def streamed_arpa(
    text: Path, out: Path, cfg: LmBuildConfig, block_rows: int, vocab: Path | None = None
) -> bytes:
    counts = count_ngrams([str(text)], _count_config(cfg))
    try:
        allowed = _allowed_words(str(vocab), counts.vocab, "word") if vocab else None
        write_mkn_arpa_streaming(
            counts,
            out,
            lambda coc: kneser_ney_discounts(coc, cfg.discount_fallback),
            prune_thresholds=cfg.prune or None,
            allowed_words=allowed,
            interpolate_unigrams=cfg.interpolate_unigrams,
            temp_prefix=cfg.temp_prefix,
            block_rows=block_rows,
        )
    finally:
        counts.close()
    return out.read_bytes()


@pytest.mark.parametrize(
    "order,prune,block_rows",
    [(2, [], 97), (3, [], 1 << 20), (4, [], 300), (5, [], 1000), (4, [0, 0, 1, 1], 700), (3, [1, 1, 1], 250)],
)
def test_streamed_equals_in_memory(english, tmp_path, order, prune, block_rows):
    cfg = LmBuildConfig(order=order, prune=prune, progress=False, verbose=False)
    ref = reference_arpa(english, tmp_path / "ref.arpa", cfg)
    assert streamed_arpa(english, tmp_path / "s.arpa", cfg, block_rows) == ref


def test_streamed_limit_vocab_spilled_counts_no_unigram_interpolation(english, tmp_path):
    words = english.read_text().split()
    uniq, cnt = np.unique(np.array(words), return_counts=True)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(uniq[np.argsort(-cnt, kind="stable")[:500]]) + "\n")
    cfg = LmBuildConfig(
        order=4,
        prune=[0, 1, 1, 1],
        limit_vocab_file=str(vocab),
        interpolate_unigrams=False,
        memory=1 << 21,  # counting spills runs and merges them into a file the stream reads
        temp_prefix=str(tmp_path / "tmp"),
        progress=False,
        verbose=False,
    )
    ref = reference_arpa(english, tmp_path / "ref.arpa", cfg)
    assert streamed_arpa(english, tmp_path / "s.arpa", cfg, 400, vocab) == ref
    assert not list((tmp_path / "tmp").iterdir())  # work files removed


def test_adjust_to_disk_matches_build_tables(english, tmp_path):
    cfg = LmBuildConfig(order=4, prune=[0, 0, 1, 2], progress=False, verbose=False)
    counts = count_ngrams([str(english)], _count_config(cfg))
    ref = build_tables(counts, cfg.prune)
    res = adjust_to_disk(counts, tmp_path, cfg.prune, block_rows=123)
    counts.close()
    np.testing.assert_array_equal(res.count_of_counts, ref.count_of_counts)
    np.testing.assert_array_equal(res.uni_adjusted, ref.tables[0].adjusted)
    np.testing.assert_array_equal(res.uni_pruned, ref.tables[0].pruned)
    for k in range(2, 5):
        t, of = ref.tables[k - 1], res.orders[k - 2]
        np.testing.assert_array_equal(of.first.load(), t.first)
        np.testing.assert_array_equal(of.suffix.load(), t.suffix)
        np.testing.assert_array_equal(of.adjusted.load(), t.adjusted)
        np.testing.assert_array_equal(of.pruned.load().astype(bool), t.pruned)
    assert res.kept == [int((~t.pruned).sum()) for t in ref.tables]


def test_build_arpa_streams_and_returns_the_header(english, tmp_path):
    cfg = LmBuildConfig(order=3, progress=False, verbose=False)
    header = build_arpa([str(english)], tmp_path / "a.arpa", cfg)
    ref = reference_arpa(english, tmp_path / "ref.arpa", cfg)
    assert (tmp_path / "a.arpa").read_bytes() == ref
    assert header == build_lm([str(english)], cfg).counts()
