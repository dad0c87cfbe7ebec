"""The biasing-test list generator and posterior simulator of tools/bench/hotwords.py."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("hotwords_bench", ROOT / "tools" / "bench" / "hotwords.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_true_hotwords_are_rare_reference_words_and_distractors_are_absent(bench):
    refs = {"a": "the quick zorblax jumps", "b": "the lazy dog", "c": "meet qwerty at noon"}
    train = Counter("the quick jumps the lazy dog dog meet at noon noon frobnicate wibble".split())
    extra = ["apple", "zorblax", "banana", "dog", "cherry"]
    true, distractors = bench.make_lists(refs, train, 0, 4, extra, seed=0)
    assert true == ["qwerty", "zorblax"]
    ref_words = {w for t in refs.values() for w in t.split()}
    assert len(distractors) == 4 and not set(distractors) & ref_words and not set(distractors) & set(true)
    assert set(distractors) <= {"frobnicate", "wibble", "apple", "banana", "cherry"}


def test_simulated_posteriors_corrupt_only_rare_words(bench):
    tk = pytest.importorskip("asr.text.tokenizer")
    tok = tk.train_tokenizer("char", ["the cat sat on a mat zeta"] * 5, 0, None)
    refs = {"u": "the cat sat zeta"}
    ((key, mat),) = bench.simulate(refs, {"zeta"}, tok, corrupt=1.0, common_error=0.0, seed=0)
    ids = [i for w in refs["u"].split() for i in tok.encode(w)]
    assert key == "u" and mat.shape == (len(ids), tok.vocab_size)
    assert np.allclose(np.exp(mat).sum(1), 1.0, atol=1e-4)
    top = mat.argmax(1)
    n_rare = len(tok.encode("zeta"))
    assert (top[:-n_rare] == ids[:-n_rare]).all()  # common words: the true token wins
    assert (top[-n_rare:] != ids[-n_rare:]).all()  # the rare word: a confusable token wins every row


def test_row_gated_context_gates_by_the_rows_posterior(bench, tokenizer):
    """The bench's emulation of the gate in the graph-less search: the context sees each row's log-posteriors, so a
    hotword token the acoustics rank at 2% is not boosted past the gate, one at 30% is."""
    nograph = pytest.importorskip("decoding.search.nograph")
    from decoding.hotwords.context_graph import ContextGraph
    from decoding.hotwords.load import word_start_table

    sym = tokenizer.symbols
    v = int(sym.max_id) + 1
    rows = [("▁the", "▁q"), ("▁new", "▁zeta")]  # (best token, hotword token) per row

    def posteriors(p_hot: float) -> np.ndarray:
        lp = np.full((len(rows), v), 1e-4, dtype=np.float64)
        for r, (best, hot) in enumerate(rows):
            lp[r, sym[best]] = 0.6
            lp[r, sym[hot]] = p_hot
        return np.log(lp / lp.sum(1, keepdims=True)).astype(np.float32)

    phrase = [sym["▁q"], sym["▁zeta"]]
    for p_hot, gated_wins in ((0.02, False), (0.3, True)):
        lp = posteriors(p_hot)
        g = ContextGraph.build(
            [phrase], [3.0], 2.0, v, word_start=word_start_table(tokenizer), gate_logp=-3.0
        )
        ctx = bench.RowGatedContext(g, lp)
        best = nograph.prefix_beam_search(lp, beam=4, row_type="cif", context=ctx)[0]
        ctx.check()
        assert (list(best.tokens) == phrase) is gated_wins, p_hot
        # ungated, the bonus (2 per token + 3) pulls in the hotword either way
        free = ContextGraph.build([phrase], [3.0], 2.0, v, word_start=word_start_table(tokenizer))
        assert list(nograph.prefix_beam_search(lp, beam=4, row_type="cif", context=free)[0].tokens) == phrase
