"""BPE-dropout of training targets (``asr/text/bpe_dropout.py``): with p = 0 it is the tokenizer's own BPE, its
samples follow sentencepiece's own BPE sampling (``enable_sampling``, ``alpha = p``) and not a different dropout
rule, p = 1 spells characters, the text never changes, special tokens stay, and the training wrapper's errors."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from asr.errors import CifstError
from asr.text.bpe_dropout import BpeDropout
from asr.text.tokenizer import train_tokenizer

spm = pytest.importorskip("sentencepiece")


@pytest.fixture(scope="module")
def bpe(tmp_path_factory, zipf_text):
    """A BPE-300 tokenizer (ours, via sentencepiece) trained on Zipf-distributed pseudo-words, and its lexicon."""
    lexicon, texts = zipf_text
    out = tmp_path_factory.mktemp("bpe_dropout")
    tok = train_tokenizer("bpe", texts, 300, out)
    return tok, texts, lexicon, spm.SentencePieceProcessor(model_file=str(out / "bpe.model"))


def test_without_dropout_it_is_the_tokenizer(bpe):
    tok, texts, _, _ = bpe
    plain = BpeDropout(tok.symbols.symbols, 0.0)
    drop = BpeDropout(tok.symbols.symbols, 0.3)
    for i, text in enumerate(texts[:500]):
        ids = tok.encode(text)
        assert plain(ids, random.Random(i)) == ids
        assert drop(ids, None) == ids  # no generator: canonical


def _tv(a: Counter, b: Counter) -> float:
    n = sum(a.values())
    assert sum(b.values()) == n
    return sum(abs(a[k] - b[k]) for k in set(a) | set(b)) / (2 * n)


def test_samples_follow_sentencepiece_sampling(bpe):
    """20,000 samples of a word from ours and from sentencepiece's BPE sampling at the same p: the distributions
    over segmentations agree (total variation < 0.035; sampling noise alone is ~0.01-0.02), while sentencepiece at
    another p, or the per-step re-drawn dropout of the BPE-dropout paper, is far off (> 0.08)."""
    tok, _, lexicon, sp = bpe
    p, n = 0.3, 20000
    spm.set_random_generator_seed(11)
    ours = BpeDropout(tok.symbols.symbols, p)
    words = [w for w in lexicon if 4 <= len(w) <= 6 and len(tok.encode(w)) <= 2][:3]
    assert len(words) == 3
    for w in words:
        mine = Counter(tuple(ours.segment("\u2581" + w, random.Random(s))) for s in range(n))
        ref = Counter(tuple(sp.encode(w, out_type=str, enable_sampling=True, alpha=p)) for _ in range(n))
        other = Counter(tuple(sp.encode(w, out_type=str, enable_sampling=True, alpha=0.15)) for _ in range(n))
        assert len(ref) > 3, w  # enough segmentations to compare
        assert _tv(mine, ref) < 0.035, (w, mine.most_common(4), ref.most_common(4))
        assert _tv(other, ref) > 0.08
        redrawn = Counter(
            tuple(_redraw_every_step(ours, "\u2581" + w, p, random.Random(s))) for s in range(n)
        )
        assert _tv(redrawn, ref) > 0.08


def _redraw_every_step(bd: BpeDropout, word: str, p: float, rng: random.Random) -> list[str]:
    """Provilkov et al.'s rule: every candidate re-drawn at every step, stop when all are dropped."""
    parts = list(word)
    while len(parts) > 1:
        cands = [
            (bd.rank[parts[k] + parts[k + 1]], k)
            for k in range(len(parts) - 1)
            if parts[k] + parts[k + 1] in bd.rank and rng.random() >= p
        ]
        if not cands:
            break
        _, k = min(cands)
        parts[k : k + 2] = [parts[k] + parts[k + 1]]
    return parts


def test_full_dropout_spells_characters_and_text_is_kept(bpe):
    tok, texts, _, _ = bpe
    chars = BpeDropout(tok.symbols.symbols, 1.0)
    some = BpeDropout(tok.symbols.symbols, 0.2)
    changed = 0
    for i, text in enumerate(texts[:300]):
        ids = tok.encode(text)
        spelled = [tok.symbols[t] for t in chars(ids, random.Random(i))]
        assert "".join(spelled) == "".join(tok.symbols[t] for t in ids)
        assert all(len(s) == 1 for s in spelled)
        sample = some(ids, random.Random(i))
        assert tok.decode(sample) == tok.decode(ids) == tok.normalize(text)
        assert all(0 < t < len(tok.symbols) for t in sample)
        changed += sample != ids
    assert changed > 200  # at p = 0.2 most sentences get another segmentation


def test_a_word_with_a_special_token_is_kept(bpe):
    tok, _, _, _ = bpe
    ids = tok.encode("etaoin shrdlu")
    unk = tok.unk_id
    with_unk = ids[:1] + [unk] + ids[1:]  # <unk> joins the first word
    out = BpeDropout(tok.symbols.symbols, 1.0)(with_unk, random.Random(0))
    words = BpeDropout(tok.symbols.symbols, 0.0).words(with_unk)
    assert out[: len(words[0])] == words[0]
    assert len(out) > len(with_unk)  # the other word is spelled out


def test_errors(bpe, tmp_path):
    tok, _, _, _ = bpe
    with pytest.raises(ValueError, match="outside"):
        BpeDropout(tok.symbols.symbols, 1.5)
    from asr.train.run import _bpe_dropout

    char = train_tokenizer("char", ["a b c", "abc"], 0, tmp_path)
    with pytest.raises(CifstError, match=r"train\.bpe_dropout=0\.1 needs a BPE tokenizer.*kind 'char'"):
        _bpe_dropout(char, 0.1, tmp_path)
    assert isinstance(_bpe_dropout(tok, 0.1, tmp_path), BpeDropout)
