"""Hotword files through the tokenizer into a context graph: limits, errors naming lines, word starts, scp lists."""

from __future__ import annotations

import logging

import pytest
import torch
from hotword_fakes import FakeTokenizer

from asr.errors import InputError
from decoding.hotwords import (
    HotwordConfig,
    load_context,
    load_context_scp,
    parse_hotword_lines,
    tokenize_hotwords,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def ids(tok, text):
    return tok.encode(text, strict=True)


def test_cat_does_not_fire_inside_concatenate(tokenizer, tmp_path):
    g = load_context(write(tmp_path / "hw.txt", "cat 3\n"), tokenizer, hotword_score=1.0)
    assert ids(tokenizer, "concatenate") == [tokenizer.symbols[p] for p in ("▁con", "cat", "en", "ate")]
    assert g.score_tokens(ids(tokenizer, "concatenate")) == 0.0
    assert g.score_tokens(ids(tokenizer, "the cat")) == pytest.approx(3 + 1)


def test_phrase_starting_inside_a_word_is_rejected(tmp_path):
    tok = FakeTokenizer()
    tok.is_word_start = lambda i: tok.symbols[i] != "▁cat"  # pretend ▁cat were a word-internal piece
    with pytest.raises(
        InputError, match=r"hw.txt:2: hotword 'cat': its first token '▁cat' does not start a word"
    ):
        load_context(write(tmp_path / "hw.txt", "new york\ncat\n"), tok)


def test_overlapping_chinese_hotwords(tokenizer, tmp_path):
    g = load_context(
        write(tmp_path / "hw.txt", "阳光保险\n保定 :2\n"), tokenizer, hotword_score=1.0, default_weight=0.0
    )
    # speech 阳光保定: 保定 fires (2 tokens + weight 2), the 阳光保 prefix is taken back
    assert g.score_tokens(ids(tokenizer, "阳光保定")) == pytest.approx(4.0)
    assert g.score_tokens(ids(tokenizer, "阳光保险")) == pytest.approx(4.0)


def test_unknown_characters_too_long_and_too_many_name_the_line(tokenizer, tmp_path):
    f = write(tmp_path / "hw.txt", "new york\nzeta X-ray\n")
    with pytest.raises(
        InputError,
        match=r"hw.txt:2: hotword 'zeta X-ray': character 'X' is not in tokens.txt.*--hotwords-skip-bad",
    ):
        load_context(f, tokenizer)
    # a tokenizer without strict=: the <unk> in its ids is caught and the bad piece named
    with pytest.raises(
        InputError, match=r"hw.txt:2: hotword 'zeta X-ray': 'X', '-' is not in the model's tokens"
    ):
        load_context(f, FakeTokenizer(strict_kwarg=False))
    f = write(tmp_path / "long.txt", "我们\n" + "我们" * 20 + "\n")
    with pytest.raises(
        InputError, match=r"long.txt:2: hotword '我们我们.*': it is 40 tokens long, more than the limit of 32"
    ):
        load_context(f, tokenizer)
    f = write(tmp_path / "many.txt", "我们\n天气\n北京\n")
    with pytest.raises(
        InputError, match=r"many.txt: 3 hotwords, more than the limit of 2 \(--hotword-max-count\)"
    ):
        load_context(f, tokenizer, max_hotwords=2)


def test_skip_bad_warns_and_keeps_the_rest(tokenizer, tmp_path, caplog):
    f = write(tmp_path / "hw.txt", "new york\nzeta Xray\n我们\n")
    with caplog.at_level(logging.WARNING):
        g = load_context(f, tokenizer, skip_bad=True, hotword_score=1.0)
    assert "hw.txt:2" in caplog.text
    assert g.score_tokens(ids(tokenizer, "我们")) == pytest.approx(2.0)
    assert g.score_tokens(ids(tokenizer, "new york")) == pytest.approx(2.0)


def test_skip_bad_names_a_few_lines_and_counts_the_rest(tokenizer, tmp_path, caplog):
    f = write(tmp_path / "hw.txt", "".join(f"zeta X{i}\n" for i in range(12)) + "我们\n")
    with caplog.at_level(logging.WARNING):
        g = load_context(f, tokenizer, skip_bad=True)
    skipped = [r for r in caplog.records if r.getMessage().startswith("skipping hotword")]
    assert len(skipped) == 5 and "hw.txt:1:" in skipped[0].getMessage()
    assert "skipped 7 more unusable hotwords" in caplog.text
    assert g.num_states == 3


def test_phrases_with_equal_tokens_merge_to_largest_weight(tokenizer):
    hws = parse_hotword_lines(["new york 1", "new  york :3", "new york", "天气"], "hw.txt")
    tok = tokenize_hotwords(hws, tokenizer, HotwordConfig(weight=-1.0))
    assert tok.phrases == [ids(tokenizer, "new york"), ids(tokenizer, "天气")]
    assert tok.weights == [3.0, -1.0]


def test_empty_file_is_neutral(tokenizer, tmp_path):
    g = load_context(write(tmp_path / "hw.txt", "# nothing yet\n"), tokenizer)
    assert g.num_states == 1
    b, s = g.step(torch.zeros(3, dtype=torch.int64), torch.tensor(ids(tokenizer, "我们在")))
    assert b.abs().sum() == 0 and s.abs().sum() == 0


def test_per_utterance_lists_are_unioned_with_the_global_list(tokenizer, tmp_path):
    write(tmp_path / "global.txt", "北京\n")
    write(tmp_path / "a.txt", "天气\n")
    write(tmp_path / "b.txt", "new york 2\n")
    scp = write(tmp_path / "hw.scp", "utt1 a.txt\nutt2 b.txt\nutt3 a.txt\n")
    ctx = load_context_scp(
        scp, tokenizer, global_path=tmp_path / "global.txt", hotword_score=1.0, default_weight=0.0
    )
    starts = ctx.start_states(["utt1", "utt2", "utt3", "other"])
    assert starts[0] == starts[2] and len(set(starts.tolist())) == 3
    g = ctx.graph

    def score(text, start):
        return g.score_tokens(ids(tokenizer, text), start=int(start))

    assert [score("天气", s) for s in starts] == [2.0, 0.0, 2.0, 0.0]
    assert [score("北京", s) for s in starts] == [2.0, 2.0, 2.0, 2.0]
    assert [score("new york", s) for s in starts] == [0.0, 4.0, 0.0, 0.0]
    write(tmp_path / "bad.scp", "utt1 missing.txt\n")
    with pytest.raises(InputError, match="missing.txt' does not exist"):
        load_context_scp(tmp_path / "bad.scp", tokenizer)


def test_real_tokenizers(tmp_path):
    tk = pytest.importorskip("asr.text.tokenizer")
    texts = [
        "the cat sat on the mat",
        "concatenate the strings",
        "new york is big",
        "我们在北京 天气很好",
    ] * 20
    for kind in ("char", "bpe", "mixed"):
        tok = tk.train_tokenizer(kind, texts, {"char": 0, "bpe": 60, "mixed": 40}[kind], tmp_path / kind)
        tok = tk.load_tokenizer(tmp_path / kind)
        g = load_context(
            write(tmp_path / "hw.txt", "cat 2\n北京\n"), tok, hotword_score=1.0, default_weight=0.0
        )
        cat = tok.encode("cat")
        assert g.score_tokens(tok.encode("the cat sat")) == pytest.approx(len(cat) + 2.0)
        assert g.score_tokens(tok.encode("concatenate the strings")) == 0.0
        if kind != "bpe":  # plain BPE merges CJK characters across word boundaries (我 们在北 京)
            assert g.score_tokens(tok.encode("我们在北京")) == pytest.approx(2.0)
        with pytest.raises(InputError, match=r"hw.txt:1: hotword 'ξ'"):
            load_context(write(tmp_path / "hw.txt", "ξ\n"), tok)
