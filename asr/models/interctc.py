"""A coarser subword vocabulary for the intermediate CTC of hierarchical conditional CTC, derived from the model's own
tokens.txt, and the mapping of token targets into it.

Hierarchical conditional CTC (Higuchi et al., "Hierarchical conditional end-to-end ASR with CTC and multi-granular
subword units", ICASSP 2022) trains the intermediate CTC of a self-conditioned encoder on a smaller subword
vocabulary than the final CTC: the lower blocks predict short pieces, the upper ones condition on them and predict
the full ones. Here the smaller vocabulary needs no second tokenizer: a sentencepiece BPE ``tokens.txt`` lists the
merged pieces in merge order, so its first merges, with the single characters, are what a BPE model of that size
trained on the same text would hold, and a token's spelling in it is the BPE segmentation of the token's string with
those merges (the lowest-ranked adjacent pair merged first, as sentencepiece encodes). For other vocabularies
(characters, unigram) the same rule gives a deterministic segmentation, in id order.

The derived vocabulary, of ``size`` symbols: ``<blk>`` (0), ``<unk>`` (1), the single-character tokens (in id
order), then the multi-character tokens in id order until ``size`` is reached. Special tokens (``<...>``) map to
``<unk>``; characters left out of a small vocabulary map to ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from asr.text.bpe_dropout import bpe_segment, is_special

__all__ = ["subword_hierarchy", "map_targets", "SubwordMap", "PhoneMap", "read_phone_lexicon", "WORD_START"]

WORD_START = "\u2581"  # sentencepiece's word-start mark

BLANK = "<blk>"
UNK = "<unk>"


def subword_hierarchy(symbols: Sequence[str], size: int) -> tuple[list[str], list[list[int]]]:
    """Derive the coarser vocabulary and every token's spelling in it.

    Args:
        symbols: The model's tokens.txt symbols by id (id 0 = the blank).
        size: Symbols in the derived vocabulary, blank and ``<unk>`` included (>= 3).

    Returns:
        ``(aux_symbols, spelling)``: ``aux_symbols[j]`` is derived symbol ``j``; ``spelling[v]`` the derived ids
        of token ``v`` (empty for the blank).

    Raises:
        ValueError: ``size`` below 3 or above what ``symbols`` can provide (2 + its non-special tokens).
    """
    plain = [(i, s) for i, s in enumerate(symbols) if i > 0 and not is_special(s)]
    if size < 3 or size > 2 + len(plain):
        raise ValueError(
            f"a derived intermediate vocabulary of {size} symbols: must be in 3..{2 + len(plain)} "
            f"(<blk>, <unk> and the {len(plain)} non-special tokens of tokens.txt)"
        )
    chars = [s for _, s in plain if len(s) == 1]
    merged = [s for _, s in plain if len(s) > 1]
    room = size - 2
    aux = [BLANK, UNK] + chars[:room]
    aux += merged[: max(0, room - len(chars))]
    aux_id = {s: j for j, s in enumerate(aux)}
    rank = {s: r for r, s in enumerate(aux[2:]) if len(s) > 1}  # merged pieces, lowest id first
    spelling: list[list[int]] = []
    for i, sym in enumerate(symbols):
        if i == 0:
            spelling.append([])
        elif is_special(sym):
            spelling.append([1])
        else:
            spelling.append([aux_id.get(p, 1) for p in bpe_segment(sym, rank)])
    return aux, spelling


class SubwordMap:
    """Token spellings in the derived vocabulary as tensors, for :func:`map_targets`.

    Args:
        symbols: tokens.txt symbols by id.
        size: Derived vocabulary size (:func:`subword_hierarchy`).

    Attributes:
        symbols: The derived vocabulary.
        table: int64 [V, L] derived ids of each token's spelling, -1 padded.
    """

    def __init__(self, symbols: Sequence[str], size: int):
        self.symbols, spelling = subword_hierarchy(symbols, size)
        width = max(1, max(len(s) for s in spelling))
        self.table = torch.full((len(spelling), width), -1, dtype=torch.int64)
        for v, s in enumerate(spelling):
            self.table[v, : len(s)] = torch.tensor(s, dtype=torch.int64)

    def to(self, device: torch.device) -> SubwordMap:
        """Move the table (in place); returns self."""
        self.table = self.table.to(device)
        return self

    def __call__(self, tokens: Tensor, tokens_lens: Tensor) -> tuple[Tensor, Tensor]:
        """:func:`map_targets` with these tables."""
        if self.table.device != tokens.device:
            self.to(tokens.device)
        return map_targets(tokens, tokens_lens, self.table)


def map_targets(tokens: Tensor, tokens_lens: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
    """Spell token targets in the derived vocabulary.

    Args:
        tokens: int64 [B, U] token ids, padded (any value past ``tokens_lens``, e.g. -1).
        tokens_lens: int64 [B].
        table: int64 [V, L] spellings, -1 padded (:class:`SubwordMap`).

    Returns:
        ``(targets, lens)``: int64 [B, U'] the concatenated spellings, -1 padded; int64 [B] their lengths.
    """
    b, u = tokens.shape
    if u == 0 or b == 0:
        return tokens.new_full((b, 0), -1), tokens_lens.new_zeros(b)
    valid_tok = torch.arange(u, device=tokens.device)[None, :] < tokens_lens[:, None]
    rows = table[tokens.clamp(min=0) * valid_tok]  # [B, U, L]
    valid = valid_tok[..., None] & (rows >= 0)
    flat = rows.reshape(b, -1)
    vflat = valid.reshape(b, -1)
    lens = vflat.sum(1)
    # stable compaction: the valid entries of each row first, in order
    order = torch.argsort((~vflat).to(torch.int8), dim=1, stable=True)
    width = int(lens.max())
    packed = flat.gather(1, order)[:, :width]
    pad = torch.arange(width, device=tokens.device)[None, :] >= lens[:, None]
    return packed.masked_fill(pad, -1), lens


def read_phone_lexicon(path) -> tuple[dict[str, list[str]], list[str]]:
    """A pronunciation lexicon, ``word PH1 PH2 ...`` per line (Kaldi's ``lexicon.txt``; the recipe's
    ``lexicon_phones.txt``). A word listed more than once keeps its first pronunciation.

    Returns:
        ``(lexicon, phones)``: word -> phone list; the phone symbols, sorted.

    Raises:
        InputError: a line with a word and no phones, or a phone symbol in ``<...>`` (reserved), naming the line;
            a file without entries.
    """
    from asr.errors import InputError

    lexicon: dict[str, list[str]] = {}
    phones: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise InputError(path, n, f"word '{fields[0]}' has no phones (expected: word PH1 PH2 ...)")
            bad = [p for p in fields[1:] if p.startswith("<") and p.endswith(">")]
            if bad:
                raise InputError(path, n, f"phone symbol '{bad[0]}': <...> symbols are reserved")
            if fields[0] not in lexicon:
                lexicon[fields[0]] = fields[1:]
                phones.update(fields[1:])
    if not lexicon:
        raise InputError(path, None, "no pronunciations (expected lines: word PH1 PH2 ...)")
    return lexicon, sorted(phones)


class PhoneMap:
    """Targets of a phone-level intermediate CTC: each target sequence's words (its tokens joined at the word-start
    mark of sentencepiece pieces) looked up in a pronunciation lexicon. A word the lexicon lacks, or one holding
    ``<unk>``, becomes one ``<unk>``. Same call as :class:`SubwordMap`.

    Args:
        symbols: tokens.txt symbols by id.
        lexicon: word -> phones (:func:`read_phone_lexicon`).
        phones: the phone symbols; the vocabulary is ``<blk>``, ``<unk>``, then these.

    Attributes:
        symbols: The phone vocabulary.
        unknown_words: Words looked up and not found since construction (a count, for the training log).

    Raises:
        ValueError: tokens.txt has no word-start pieces (a character tokenizer: words cannot be recovered).
    """

    def __init__(self, symbols: Sequence[str], lexicon: dict[str, list[str]], phones: Sequence[str]):
        if not any(s.startswith(WORD_START) for s in symbols):
            raise ValueError(
                "phone targets need word-start pieces ('\u2581...') in tokens.txt to find the words; "
                "this tokenizer has none (use a sentencepiece bpe/unigram tokenizer)"
            )
        self.symbols = [BLANK, UNK] + list(phones)
        pid = {p: j for j, p in enumerate(self.symbols)}
        self._pieces = [None if (i == 0 or is_special(s)) else s for i, s in enumerate(symbols)]
        self._ids = {w: [pid.get(p, 1) for p in pron] for w, pron in lexicon.items()}
        self.unknown_words = 0

    def pronunciation(self, word: str | None) -> list[int] | None:
        """The phone ids of ``word``, or None when the lexicon lacks it."""
        return self._ids.get(word) if word else None

    def words(self, ids: Sequence[int]) -> list[str | None]:
        """The words of one token sequence (None for a word holding a special token)."""
        words: list[str | None] = []
        for v in ids:
            piece = self._pieces[v] if 0 <= v < len(self._pieces) else None
            if piece is None:
                if not words:
                    words.append(None)
                words[-1] = None
            elif piece.startswith(WORD_START) or not words:
                words.append(piece.lstrip(WORD_START))
            elif words[-1] is not None:
                words[-1] += piece
        return words

    def __call__(self, tokens: Tensor, tokens_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Phone targets int64 [B, U'] (-1 padded) and lengths [B] of token targets [B, U] (looked up on the host,
        returned on ``tokens``' device)."""
        rows: list[list[int]] = []
        for seq, n in zip(tokens.tolist(), tokens_lens.tolist(), strict=True):
            row: list[int] = []
            for w in self.words(seq[:n]):
                pron = self.pronunciation(w)
                if pron is None:
                    self.unknown_words += 1
                    pron = [1]
                row.extend(pron)
            rows.append(row)
        width = max((len(r) for r in rows), default=0)
        out = torch.full((len(rows), width), -1, dtype=torch.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
        lens = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        return out.to(tokens.device), lens.to(tokens.device)
