"""The lexicon transducer L: ``lexicon.txt`` (or a tokenizer) -> pronunciations with disambiguation symbols -> L.fst.

Input: ``lexicon.txt`` lines ``word [prob] tok1 tok2 ...`` (several lines per word = pronunciation variants; the
optional probability column is Kaldi's ``lexiconp.txt`` convention, the best variant of a word has 1.0) and
``tokens.txt``; or, lexicon-free, a tokenizer that spells each word of the LM vocabulary by its tokens (CJK
characters, sentencepiece pieces). Output: :class:`Lexicon` (pronunciations as token ids), the ``#k``
disambiguation index of each pronunciation, and L as a ``pywrapfst.VectorFst`` whose input labels are token ids
(token disambiguation symbols ``#0 #1 ...`` follow the last token id) and whose output labels are word ids; the word
is emitted on the first arc of its pronunciation; ``#0`` (G's back-off symbol) passes through on a self-loop.

Follows Kaldi ``utils/add_lex_disambig.pl`` (a pronunciation that is shared by several words or is a prefix of
another gets ``#1``, ``#2``, ... appended) and ``utils/lang/make_lexicon_fst.py`` (optional silence with
probability ``sil_prob`` after each word and at the start) with one difference: our L has no input epsilons (the
start state carries its own copy of the first arcs instead of an epsilon arc to the loop state), so L o G needs no
epsilon handling before determinization. Our own code.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.data.kaldi_dir import iter_utf8_lines
from asr.errors import InputError
from asr.text.symbol_table import SymbolTable

__all__ = [
    "Pronunciation",
    "Lexicon",
    "read_lexicon",
    "lexicon_from_tokenizer",
    "add_disambig",
    "make_word_table",
    "make_lexicon_fst",
    "RESERVED_WORDS",
]

RESERVED_WORDS = ("<eps>", "<s>", "</s>")


@dataclass(frozen=True)
class Pronunciation:
    """One lexicon entry.

    Attributes:
        word: The word (a ``words.txt`` symbol).
        tokens: Token ids (``tokens.txt``), never empty, never blank (id 0).
        prob: Pronunciation probability in (0, 1]; its cost on L is ``-ln(prob)``.
        line: 1-based line in the lexicon file (0 for generated entries).
    """

    word: str
    tokens: tuple[int, ...]
    prob: float = 1.0
    line: int = 0


@dataclass
class Lexicon:
    """Pronunciations in file order, without exact duplicates.

    Attributes:
        prons: The entries.
        path: Where they came from (a file, or ``None`` when generated from a tokenizer).
        skipped: Words that could not be spelled (lexicon-free generation), with the reason.
    """

    prons: list[Pronunciation]
    path: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    def words(self) -> list[str]:
        """Distinct words, sorted by code point (the C-locale order of Kaldi's ``words.txt``)."""
        return sorted({p.word for p in self.prons})


def _parse_prob(text: str) -> float | None:
    try:
        p = float(text)
    except ValueError:
        return None
    return p if 0.0 < p <= 1.0 else None


def read_lexicon(path: str | os.PathLike, tokens: SymbolTable, has_probs: bool | None = None) -> Lexicon:
    """Read ``lexicon.txt``.

    Args:
        path: The lexicon file, UTF-8, ``word [prob] tok1 tok2 ...`` per line; blank lines are ignored.
        tokens: The token table the pronunciations are written in.
        has_probs: Whether the second column is a probability; ``None`` = detect: if every line has a number
            in (0, 1] there, all are probabilities, else per line, a number in (0, 1] that is not a token.

    Returns:
        The lexicon; a repeated pronunciation (same word and tokens) is kept once, with the higher probability.

    Raises:
        InputError: naming file and line: a line with no tokens, a token not in ``tokens.txt``, the blank token,
            a reserved word (``<eps>``, ``<s>``, ``</s>``, ``#...``), a bad probability.
    """
    path = Path(path)
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in iter_utf8_lines(path):
        fields = line.split()
        if fields:
            rows.append((lineno, fields))
    if not rows:
        raise InputError(path, None, "the lexicon is empty")
    if has_probs is None and all(len(r) >= 3 and _parse_prob(r[1]) is not None for _, r in rows):
        has_probs = True
    blank = tokens.symbol(0) if 0 in tokens else None
    prons: list[Pronunciation] = []
    seen: dict[tuple[str, tuple[int, ...]], int] = {}  # (word, tokens) -> index in prons
    for lineno, fields in rows:
        word = fields[0]
        if word in RESERVED_WORDS or word.startswith("#"):
            raise InputError(path, lineno, f"'{word}' is a reserved symbol and cannot be a lexicon word")
        prob = 1.0
        toks = fields[1:]
        line_probs = has_probs
        if has_probs is None:  # per line: a number in (0, 1] that is not a token is a probability
            line_probs = len(fields) >= 3 and _parse_prob(fields[1]) is not None and fields[1] not in tokens
        if line_probs:
            if len(fields) < 2 or _parse_prob(fields[1]) is None:
                raise InputError(
                    path,
                    lineno,
                    f"expected 'word prob tok1 ...' with prob in (0, 1], got {' '.join(fields)!r}",
                )
            prob = _parse_prob(fields[1])
            toks = fields[2:]
        if not toks:
            raise InputError(
                path, lineno, f"word '{word}' has no tokens (an empty pronunciation is not allowed)"
            )
        ids = []
        for t in toks:
            tid = tokens.get(t)
            if tid is None:
                raise InputError(
                    path,
                    lineno,
                    f"token '{t}' of word '{word}' is not in the token table; add it to tokens.txt or fix the "
                    "lexicon (tokens.txt is the model's output vocabulary)",
                )
            if tid == 0:
                raise InputError(
                    path, lineno, f"word '{word}' uses the blank token '{blank}' in its pronunciation"
                )
            ids.append(tid)
        key = (word, tuple(ids))
        if key in seen:  # the same pronunciation again: keep the more probable
            j = seen[key]
            if prob > prons[j].prob:
                prons[j] = Pronunciation(word, tuple(ids), prob, prons[j].line)
            continue
        seen[key] = len(prons)
        prons.append(Pronunciation(word, tuple(ids), prob, lineno))
    return Lexicon(prons, str(path))


def lexicon_from_tokenizer(tokenizer, words: Iterable[str]) -> Lexicon:
    """Spell each word by the tokenizer (lexicon-free graphs: CJK characters, sentencepiece pieces).

    Args:
        tokenizer: Object with ``.symbols`` (:class:`SymbolTable`) and ``.encode(text) -> list[int]`` (the
            ``asr.text.tokenizer.Tokenizer`` interface). A word whose spelling is empty, contains ``<unk>`` or
            raises ``ValueError`` is skipped and listed in :attr:`Lexicon.skipped`. The word ``<unk>`` (lmplz
            always writes it) is spelled by the ``<unk>`` token.
        words: The vocabulary (e.g. the LM's unigrams without ``<s>``/``</s>``/``<unk>``).

    Returns:
        One pronunciation per word (probability 1).
    """
    unk = tokenizer.symbols.get("<unk>")
    prons: list[Pronunciation] = []
    skipped: dict[str, str] = {}
    for word in dict.fromkeys(words):
        if word == "<unk>" and unk is not None:  # the LM's unknown word is spelled by the <unk> token
            prons.append(Pronunciation(word, (unk,)))
            continue
        if word in RESERVED_WORDS or word.startswith("#"):
            continue
        try:
            ids = [int(i) for i in tokenizer.encode(word)]
        except ValueError as e:
            skipped[word] = str(e)
            continue
        if not ids:
            skipped[word] = "the tokenizer spells it with no tokens"
        elif unk is not None and unk in ids:
            skipped[word] = "the tokenizer maps part of it to <unk>"
        elif 0 in ids:
            skipped[word] = "the tokenizer spells it with the blank token"
        else:
            prons.append(Pronunciation(word, tuple(ids)))
    return Lexicon(prons, None, skipped)


def add_disambig(lexicon: Lexicon) -> tuple[list[int], int]:
    """Choose the disambiguation symbol of each pronunciation (Kaldi ``add_lex_disambig.pl``).

    A token sequence used by more than one pronunciation (homophones) or that is a proper prefix of another gets
    ``#1``, ``#2``, ... (numbered per sequence); others get none. ``#0`` is reserved for G's back-off arcs.

    Returns:
        ``(disambig, num_disambig)``: per pronunciation the ``k`` of ``#k`` (0 = none), and how many token
        disambiguation symbols L needs (``#0 .. #num_disambig-1``).
    """
    count: dict[tuple[int, ...], int] = {}
    prefixes: set[tuple[int, ...]] = set()
    for p in lexicon.prons:
        count[p.tokens] = count.get(p.tokens, 0) + 1
        for i in range(1, len(p.tokens)):
            prefixes.add(p.tokens[:i])
    next_k: dict[tuple[int, ...], int] = {}
    out: list[int] = []
    for p in lexicon.prons:
        if count[p.tokens] > 1 or p.tokens in prefixes:
            k = next_k.get(p.tokens, 1)
            next_k[p.tokens] = k + 1
            out.append(k)
        else:
            out.append(0)
    return out, max(out, default=0) + 1


def make_word_table(words: Iterable[str]) -> SymbolTable:
    """``words.txt``: ``<eps>`` 0, the words in the given order, then ``#0``, ``<s>``, ``</s>`` (Kaldi's layout)."""
    keep = [w for w in dict.fromkeys(words) if w not in RESERVED_WORDS and not w.startswith("#")]
    return SymbolTable(["<eps>", *keep, "#0", "<s>", "</s>"])


def make_lexicon_fst(
    lexicon: Lexicon,
    words: SymbolTable,
    first_disambig: int,
    disambig: list[int] | None = None,
    sil_token: int | None = None,
    sil_prob: float = 0.0,
):
    """Build L (tropical ``pywrapfst.VectorFst``), output-label sorted, ready for composition with G.

    Args:
        lexicon: The pronunciations; each word must be in ``words``.
        words: Word table (``#0`` in it is the back-off symbol passed through by L).
        first_disambig: Token-side id of ``#0``; ``#k`` is ``first_disambig + k`` (use the number of tokens).
        disambig: Per pronunciation the ``k`` of its ``#k`` (from :func:`add_disambig`); ``None`` = no
            disambiguation symbols (L o G may then not be determinizable).
        sil_token: Token id of optional silence between words, or ``None`` for none.
        sil_prob: Probability of silence after a word and at the start, in [0, 1).

    Returns:
        L with input labels = token ids (+ token disambiguation ids) and output labels = word ids.

    Raises:
        ValueError: a word missing from ``words``, or ``sil_prob`` out of range.
    """
    from decoding.graph.fst_arrays import arrays_to_fst

    if not 0.0 <= sil_prob < 1.0:
        raise ValueError(f"sil_prob must be in [0, 1), got {sil_prob}")
    use_sil = sil_token is not None and sil_prob > 0.0
    wid0 = words.get("#0")
    if wid0 is None:
        raise ValueError("the word table has no '#0' (the back-off disambiguation symbol)")
    src: list[int] = []
    dst: list[int] = []
    il: list[int] = []
    ol: list[int] = []
    w: list[float] = []

    def arc(s: int, d: int, i: int, o: int, c: float) -> None:
        src.append(s)
        dst.append(d)
        il.append(i)
        ol.append(o)
        w.append(c)

    if use_sil:
        start, loop, sil_state = 0, 1, 2
        num_states = 3
        sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        heads = [(loop, 0.0), (start, no_sil_cost)]
        arc(start, loop, sil_token, 0, sil_cost)
        arc(sil_state, loop, sil_token, 0, 0.0)
    else:
        start = loop = 0
        num_states = 1
        no_sil_cost = 0.0
        heads = [(loop, 0.0)]
    ends = [(loop, no_sil_cost), (sil_state, sil_cost)] if use_sil else [(loop, 0.0)]
    for n, p in enumerate(lexicon.prons):
        wid = words.get(p.word)
        if wid is None:
            raise ValueError(f"word '{p.word}' of the lexicon is not in the word table")
        seq = list(p.tokens)
        if disambig is not None and disambig[n]:
            seq.append(first_disambig + disambig[n])
        cost = -math.log(p.prob)
        if len(seq) == 1:
            for h, hc in heads:
                for e, ec in ends:
                    arc(h, e, seq[0], wid, cost + hc + ec)
            continue
        first = num_states
        num_states += len(seq) - 1
        for h, hc in heads:
            arc(h, first, seq[0], wid, cost + hc)
        for j in range(1, len(seq) - 1):
            arc(first + j - 1, first + j, seq[j], 0, 0.0)
        for e, ec in ends:
            arc(first + len(seq) - 2, e, seq[-1], 0, ec)
    for h in {start, loop}:
        arc(h, h, first_disambig, wid0, 0.0)
    final = np.full(num_states, np.inf, dtype=np.float32)
    final[loop] = 0.0
    if use_sil:
        final[start] = no_sil_cost
    f = arrays_to_fst(
        num_states,
        start,
        np.array(src, np.int64),
        np.array(dst, np.int64),
        np.array(il, np.int64),
        np.array(ol, np.int64),
        np.array(w, np.float32),
        final,
    )
    f.arcsort(sort_type="olabel")
    return f
