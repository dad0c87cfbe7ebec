"""The derived intermediate vocabulary of hierarchical conditional CTC (``asr/models/interctc.py``): against
sentencepiece's own BPE model of that size trained on the same text, the packing of spelled targets, and errors."""

from __future__ import annotations

import pytest
import torch

from asr.models.interctc import SubwordMap, map_targets, subword_hierarchy

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
