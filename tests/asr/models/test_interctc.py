"""The derived intermediate vocabulary of hierarchical conditional CTC (``asr/models/interctc.py``): against
sentencepiece's own BPE model of that size trained on the same text, the packing of spelled targets, and errors; the
phone targets of a phone-level intermediate CTC, against the words of the text itself."""

from __future__ import annotations

import random

import pytest
import torch

from asr.errors import InputError
from asr.models.interctc import PhoneMap, SubwordMap, map_targets, read_phone_lexicon, subword_hierarchy

spm = pytest.importorskip("sentencepiece")


def _train(tmp_path, text_file, size: int):
    prefix = tmp_path / f"bpe{size}"
    spm.SentencePieceTrainer.train(
        input=str(text_file),
        model_prefix=str(prefix),
        vocab_size=size,
        model_type="bpe",
        character_coverage=1.0,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_file=f"{prefix}.model")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, zipf_text):
    """The Zipf pseudo-word text (``zipf_text``) in a file, and its lexicon."""
    lexicon, texts = zipf_text
    path = tmp_path_factory.mktemp("interctc") / "text"
    path.write_text("".join(t + "\n" for t in texts))
    return path, lexicon


def test_derived_vocabulary_is_the_smaller_bpe_model(tmp_path, corpus):
    """From a BPE-300 tokens.txt, the 101-symbol derived vocabulary holds exactly the pieces of sentencepiece's
    BPE-100 model trained on the same text, and spelling each BPE-300 piece of a word in it gives that model's
    segmentation of the word (BPE's first merges are the smaller model's merges)."""
    text, lexicon = corpus
    big = _train(tmp_path, text, 300)
    small = _train(tmp_path, text, 100)
    symbols = ["<blk>"] + [big.id_to_piece(i) for i in range(1, big.get_piece_size())]
    aux, spelling = subword_hierarchy(symbols, small.get_piece_size() + 1)  # + <blk>; sp's <unk> is ours
    assert aux[:2] == ["<blk>", "<unk>"]
    assert aux[2:] != [] and set(aux[2:]) == {small.id_to_piece(i) for i in range(1, small.get_piece_size())}
    checked = 0
    for word in lexicon:
        ours = [aux[j] for piece in big.encode(word) for j in spelling[piece]]
        assert ours == small.encode(word, out_type=str), word
        checked += len(big.encode(word)) > 1
    assert checked > 50  # the big model keeps many words in several pieces, so the concatenation is exercised
    assert spelling[0] == []


def test_specials_characters_and_size_errors():
    symbols = ["<blk>", "<sos/eos>", "<unk>", "▁a", "▁ab", "▁", "a", "b", "c"]
    aux, spelling = subword_hierarchy(symbols, 6)  # <blk> <unk> ▁ a b c: no merges
    assert aux == ["<blk>", "<unk>", "▁", "a", "b", "c"]
    assert spelling[1] == spelling[2] == [1]
    assert [aux[j] for j in spelling[4]] == ["▁", "a", "b"]
    aux, spelling = subword_hierarchy(symbols, 4)  # room for two characters only: the others are <unk>
    assert aux == ["<blk>", "<unk>", "▁", "a"]
    assert spelling[8] == [1] and spelling[4] == [2, 3, 1]
    aux, spelling = subword_hierarchy(symbols, 7)  # + the first merge
    assert aux[-1] == "▁a" and [aux[j] for j in spelling[4]] == ["▁a", "b"]
    for bad in (2, 9):
        with pytest.raises(ValueError, match="must be in 3..8"):
            subword_hierarchy(symbols, bad)


def test_map_targets_concatenates_spellings_and_pads():
    table = torch.tensor([[-1, -1, -1], [5, -1, -1], [6, 7, -1], [8, 9, 10]])
    tokens = torch.tensor([[1, 2, 3], [3, 1, -1], [2, -1, -1], [-1, -1, -1]])
    lens = torch.tensor([3, 2, 1, 0])
    out, out_lens = map_targets(tokens, lens, table)
    assert out_lens.tolist() == [6, 4, 2, 0]
    assert out.tolist() == [
        [5, 6, 7, 8, 9, 10],
        [8, 9, 10, 5, -1, -1],
        [6, 7, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1],
    ]
    # padding positions hold anything: a token id past the length is ignored
    tokens[2, 1:] = 3
    assert map_targets(tokens, lens, table)[0].tolist() == out.tolist()
    empty, empty_lens = map_targets(
        torch.zeros(2, 0, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), table
    )
    assert empty.shape == (2, 0) and empty_lens.tolist() == [0, 0]


def test_subword_map_matches_lists():
    symbols = ["<blk>", "<unk>", "▁t", "he", "▁the", "▁", "t", "h", "e"]
    m = SubwordMap(symbols, 7)
    _, spelling = subword_hierarchy(symbols, 7)
    tokens = torch.tensor([[4, 3, 2, 8]])
    out, n = m(tokens, torch.tensor([4]))
    assert out[0, : int(n[0])].tolist() == spelling[4] + spelling[3] + spelling[2] + spelling[8]


def _padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    out = torch.full((len(rows), max(map(len, rows))), -1)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out, torch.tensor([len(r) for r in rows])


def test_phone_targets_are_the_pronunciations_of_the_texts_words(tmp_path, corpus):
    """With a real sentencepiece BPE model, the phone targets of a batch of encoded sentences are the lexicon's
    pronunciations of the sentences' words, read from the text itself (not from the tokens), a word the lexicon
    lacks being one ``<unk>``; sampled (BPE-dropout-like) segmentations of the same text give the same targets."""
    path, words = corpus
    sp = _train(tmp_path, path, 200)
    symbols = ["<blk>"] + [sp.id_to_piece(i) for i in range(1, sp.get_piece_size())]
    rng = random.Random(3)
    phones = ["AA", "B", "K", "S", "T", "IY"]
    lexicon = {w: [rng.choice(phones) for _ in range(rng.randint(1, 4))] for w in words if rng.random() < 0.9}
    lexicon_file = tmp_path / "lexicon.txt"
    lexicon_file.write_text("".join(f"{w} {' '.join(p)}\n" for w, p in lexicon.items()))
    lex, phone_set = read_phone_lexicon(lexicon_file)
    assert lex == lexicon and phone_set == sorted(phones)
    pmap = PhoneMap(symbols, lex, phone_set)
    assert pmap.symbols == ["<blk>", "<unk>", *sorted(phones)]
    pid = {p: j for j, p in enumerate(pmap.symbols)}
    texts = path.read_text().splitlines()[:40]
    expected = [
        [j for w in t.split() for j in ([pid[p] for p in lexicon[w]] if w in lexicon else [1])] for t in texts
    ]
    missing = sum(w not in lexicon for t in texts for w in t.split())
    assert missing > 0  # the batch exercises the <unk> path
    for sample in (False, True):
        ids = [sp.encode(t, enable_sampling=sample, alpha=0.3, nbest_size=-1) for t in texts]
        tokens, lens = _padded(ids)
        assert [pmap.words(x) for x in ids] == [t.split() for t in texts]
        out, out_lens = pmap(tokens, lens)
        assert out_lens.tolist() == [len(e) for e in expected]
        assert [out[i, : len(e)].tolist() for i, e in enumerate(expected)] == expected
        assert bool((out[torch.arange(out.shape[1])[None, :] >= out_lens[:, None]] == -1).all())
    assert pmap.unknown_words == 2 * missing


def test_phone_map_specials_and_errors(tmp_path):
    """A word holding a special token is one ``<unk>``; a tokenizer without word-start pieces (characters) cannot
    give words; lexicon lines without phones or with reserved symbols are errors naming the file and line; the first
    of a word's pronunciations is the one used."""
    symbols = ["<blk>", "<unk>", "▁a", "b", "▁c", "d"]
    pmap = PhoneMap(symbols, {"ab": ["X", "Y"], "cd": ["Z"]}, ["X", "Y", "Z"])
    # the <unk> continues the word "ab" (it has no word start): "ab<unk>" is one unknown word
    assert pmap.words([2, 3, 1, 4, 5]) == [None, "cd"]
    out, lens = pmap(torch.tensor([[2, 3, 1, 4, 5], [4, 5, 2, 3, -1]]), torch.tensor([5, 4]))
    assert out.tolist() == [[1, 4, -1], [4, 2, 3]] and lens.tolist() == [2, 3]
    assert pmap.words([2, 1, 4]) == [None, "c"]
    assert pmap.words([1, 3, 4, 5]) == [None, "cd"]
    with pytest.raises(ValueError, match="word-start pieces"):
        PhoneMap(["<blk>", "<unk>", "a", "b"], {"ab": ["X"]}, ["X"])
    (tmp_path / "l1").write_text("ab X Y\nab Z\n\ncd Z\n")
    lex, phones = read_phone_lexicon(tmp_path / "l1")
    assert lex == {"ab": ["X", "Y"], "cd": ["Z"]} and phones == ["X", "Y", "Z"]
    (tmp_path / "l2").write_text("ab X Y\ncd\n")
    with pytest.raises(InputError, match="l2:2: word 'cd' has no phones"):
        read_phone_lexicon(tmp_path / "l2")
    (tmp_path / "l3").write_text("ab X <unk>\n")
    with pytest.raises(InputError, match="l3:1: phone symbol '<unk>'"):
        read_phone_lexicon(tmp_path / "l3")
    (tmp_path / "l4").write_text("\n")
    with pytest.raises(InputError, match="l4: no pronunciations"):
        read_phone_lexicon(tmp_path / "l4")
