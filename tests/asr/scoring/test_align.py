"""Alignment: hand-made cases with known alignments, thousands of random and real-looking pairs against kaldialign
and jiwer (identical counts), and hypothesis properties of any Levenshtein alignment."""

from __future__ import annotations

import random

import jiwer
import kaldialign
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.scoring.align import OP_CORRECT, OP_DEL, OP_INS, OP_SUB, align_batch, align_ids

C, S, D, I = OP_CORRECT, OP_SUB, OP_DEL, OP_INS  # noqa: E741


def _ids(words: list[str], vocab: dict[str, int]) -> list[int]:
    return [vocab.setdefault(w, len(vocab)) for w in words]


def _align_words(ref: str, hyp: str, policy: str = "kaldi") -> tuple[list[int], list[int]]:
    vocab: dict[str, int] = {}
    ops, counts = align_ids(_ids(ref.split(), vocab), _ids(hyp.split(), vocab), policy)
    return ops.tolist(), counts.tolist()


def _levenshtein(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j - 1] + (x != y), prev[j] + 1, cur[j - 1] + 1))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    "ref,hyp,ops",
    [
        ("a b c", "a b c", [C, C, C]),
        ("a b c", "a x c", [C, S, C]),
        ("a b c", "a c", [C, D, C]),
        ("a c", "a b c", [C, I, C]),
        ("a b c", "", [D, D, D]),
        ("", "x y", [I, I]),
        ("", "", []),
        ("the cat sat", "cat sat down", [D, C, C, I]),
        # substitution is cheaper than deletion + insertion
        ("a b", "x y", [S, S]),
    ],
)
def test_hand_made_alignments(ref, hyp, ops):
    for policy in ("kaldi", "jiwer"):
        got, counts = _align_words(ref, hyp, policy)
        assert got == ops, policy
        assert counts == [ops.count(C), ops.count(S), ops.count(D), ops.count(I)]


def test_tie_breaking_differs_between_policies_but_total_does_not():
    # ref "a b", hyp "b a": two errors either way; Kaldi's trace back (from the end, the match needs to be strictly
    # cheaper) and rapidfuzz's (deletion first) choose different equally short paths.
    k_ops, k = _align_words("a b", "b a", "kaldi")
    j_ops, j = _align_words("a b", "b a", "jiwer")
    ref_k = kaldialign.edit_distance(["a", "b"], ["b", "a"])
    assert (k[1], k[2], k[3]) == (ref_k["sub"], ref_k["del"], ref_k["ins"])
    o = jiwer.process_words("a b", "b a")
    assert (j[1], j[2], j[3]) == (o.substitutions, o.deletions, o.insertions)
    assert sum(k[1:]) == sum(j[1:]) == 2


def test_kaldi_prefers_insertion_over_deletion_on_ties():
    # ref "a", hyp "b": S=1 is cheapest; ref "a a", hyp "a": the deletion can be either 'a'; Kaldi takes the
    # last-column path: the diagonal match must be strictly better, so the first 'a' is matched.
    ops, _ = _align_words("a a", "a", "kaldi")
    assert ops == [C, D]
    assert kaldialign.align(["a", "a"], ["a"], "*") == [("a", "a"), ("a", "*")]


def _random_pairs(n: int, seed: int, max_len: int = 14):
    rng = random.Random(seed)
    for _ in range(n):
        v = rng.randint(1, 6)
        ref = [rng.randrange(v) for _ in range(rng.randint(0, max_len))]
        hyp = [rng.randrange(v) for _ in range(rng.randint(0, max_len))]
        yield ref, hyp


def _batch(pairs, policy):
    refs = [p[0] for p in pairs]
    hyps = [p[1] for p in pairs]
    r_off = np.cumsum([0] + [len(r) for r in refs])
    h_off = np.cumsum([0] + [len(h) for h in hyps])
    flat_r = np.array([x for r in refs for x in r], dtype=np.int32)
    flat_h = np.array([x for h in hyps for x in h], dtype=np.int32)
    return align_batch(flat_r, r_off, flat_h, h_off, policy)


def test_random_pairs_match_kaldialign_counts_and_alignments():
    pairs = list(_random_pairs(4000, seed=1))
    res = _batch(pairs, "kaldi")
    for p, (ref, hyp) in enumerate(pairs):
        k = kaldialign.edit_distance(ref, hyp)
        h, s, d, i = res.counts[p].tolist()
        assert (s, d, i) == (k["sub"], k["del"], k["ins"]), (ref, hyp)
        assert h + s + d == len(ref)
        ali = kaldialign.align(ref, hyp, -1)
        want = [C if a == b else I if a == -1 else D if b == -1 else S for a, b in ali]
        assert res.ops[res.ops_offsets[p] : res.ops_offsets[p + 1]].tolist() == want, (ref, hyp)


def test_random_pairs_match_jiwer_counts():
    pairs = [(r, h) for r, h in _random_pairs(4000, seed=2) if r]  # jiwer rejects an empty reference
    res = _batch(pairs, "jiwer")
    for p, (ref, hyp) in enumerate(pairs):
        o = jiwer.process_words(" ".join(f"w{x}" for x in ref), " ".join(f"w{x}" for x in hyp))
        assert res.counts[p].tolist() == [o.hits, o.substitutions, o.deletions, o.insertions], (ref, hyp)


def _real_looking_pairs(n: int, seed: int):
    """Sentences of a small English/Chinese vocabulary with ASR-like corruptions (word errors in bursts)."""
    rng = random.Random(seed)
    vocab = (
        "the a to of and in is it that for on you this be are with we as at have not i do they can will "
        "今 天 气 很 好 我 们 去 上 海 开 会 下 午 三 点 的 是 不 了 在 有 这 个 model test set python"
    ).split()
    for _ in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 30))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 5)):
            kind = rng.random()
            pos = rng.randint(0, max(0, len(hyp) - 1))
            if kind < 0.4 and hyp:
                hyp[pos] = rng.choice(vocab)
            elif kind < 0.7 and hyp:
                del hyp[pos : pos + rng.randint(1, 3)]
            else:
                hyp[pos:pos] = [rng.choice(vocab) for _ in range(rng.randint(1, 2))]
        yield ref, hyp


def test_real_looking_pairs_match_both_references():
    pairs = list(_real_looking_pairs(2000, seed=3))
    vocab: dict[str, int] = {}
    id_pairs = [(_ids(r, vocab), _ids(h, vocab)) for r, h in pairs]
    kal = _batch(id_pairs, "kaldi")
    jiw = _batch(id_pairs, "jiwer")
    tot_k = np.zeros(3, dtype=np.int64)
    for p, (ref, hyp) in enumerate(pairs):
        k = kaldialign.edit_distance(ref, hyp)
        tot_k += [k["sub"], k["del"], k["ins"]]
        o = jiwer.process_words(" ".join(ref), " ".join(hyp))
        assert jiw.counts[p].tolist() == [o.hits, o.substitutions, o.deletions, o.insertions]
    assert kal.counts[:, 1:].sum(axis=0).tolist() == tot_k.tolist()
    # jiwer over the whole list at once: identical totals
    o = jiwer.process_words([" ".join(r) for r, _ in pairs], [" ".join(h) for _, h in pairs])
    assert jiw.counts.sum(axis=0).tolist() == [o.hits, o.substitutions, o.deletions, o.insertions]
    # the edit distance (total errors) is the same under both tie-breaking policies
    assert (kal.counts[:, 1:].sum(axis=1) == jiw.counts[:, 1:].sum(axis=1)).all()


seqs = st.lists(st.integers(min_value=0, max_value=4), max_size=12)


@settings(max_examples=300, deadline=None)
@given(ref=seqs, hyp=seqs, policy=st.sampled_from(["kaldi", "jiwer"]))
def test_alignment_properties(ref, hyp, policy):
    ops, counts = align_ids(ref, hyp, policy)
    h, s, d, i = counts.tolist()
    assert h + s + d == len(ref)
    assert h + s + i == len(hyp)
    assert s + d + i == _levenshtein(ref, hyp)
    # replaying the ops reproduces both sequences, and 'correct' means equal units
    ri = hi = 0
    for op in ops.tolist():
        if op in (C, S):
            assert (ref[ri] == hyp[hi]) == (op == C)
            ri += 1
            hi += 1
        elif op == D:
            ri += 1
        else:
            hi += 1
    assert (ri, hi) == (len(ref), len(hyp))


@settings(max_examples=100, deadline=None)
@given(ref=seqs, hyp=seqs)
def test_distance_is_symmetric_and_zero_on_identity(ref, hyp):
    _, a = align_ids(ref, hyp)
    _, b = align_ids(hyp, ref)
    assert a[1:].sum() == b[1:].sum()
    _, same = align_ids(ref, ref)
    assert same.tolist() == [len(ref), 0, 0, 0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="policy"):
        align_ids([1], [1], policy="sclite")
    with pytest.raises(ValueError, match="shape"):
        align_batch(np.zeros(1, np.int32), np.array([0, 1]), np.zeros(1, np.int32), np.array([0, 1, 1]))


def test_long_utterance():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 50, size=1500)
    hyp = ref.copy()
    hyp[::10] = 99  # 150 substitutions
    _, counts = align_ids(ref, hyp)
    assert counts.tolist() == [1350, 150, 0, 0]


def test_too_long_pair_is_refused(monkeypatch):
    import asr.scoring.align as align_mod

    monkeypatch.setattr(align_mod, "MAX_CELLS", 50)
    with pytest.raises(ValueError, match="pair 1 is too long"):
        align_batch(
            np.zeros(12, np.int32), np.array([0, 2, 12]), np.zeros(9, np.int32), np.array([0, 1, 9]), "kaldi"
        )
