"""Text for synthetic speech: Debian text files -> sentences normalized for a speech corpus.

Sources are plain-text files already on the machine: the ``fortune`` cookie files (``%``-separated entries, with
``-- Author`` attributions), the licence texts in ``/usr/share/common-licenses``, the example sentences of WordNet's
glosses and the glosses (definitions) themselves (``wordnet-base``, opt-in with ``--text-sources``) and any file a
user adds. Each entry is unwrapped, split into sentences, and normalized the way an ASR transcript is: numbers and
a few symbols spelled out in words (``1984`` -> ``nineteen eighty four``, ``&`` -> ``and``), titles expanded
(``Mr.`` -> ``mister``), letters lower-cased, punctuation removed, apostrophes kept inside words (``don't``). A
sentence is kept only when every word is in the pronouncing dictionary given (so the voices say real words and the
lexicon covers them), it has no spelled-out acronym, and its length is within bounds. The normalized words (with the sentence's commas and
final mark kept for prosody) are what the voices read, so the transcript is exactly what is spoken.

Reference: the text-normalization steps of Kaldi's ``egs/librispeech`` LM corpus and of the LibriSpeech paper
(Panayotov et al., 2015, section 3.2: numbers expanded, punctuation stripped, upper-case).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asr.errors import CifstError

__all__ = [
    "GlossSource",
    "Sentence",
    "TextFilter",
    "default_english_sources",
    "english_sources",
    "iter_fortune_entries",
    "iter_plain_paragraphs",
    "iter_wordnet_examples",
    "iter_wordnet_glosses",
    "wordnet_sources",
    "split_sentences",
    "number_to_words",
    "normalize_sentence",
    "collect_sentences",
]

FORTUNE_DIR = Path("/usr/share/games/fortunes")
LICENSE_DIR = Path("/usr/share/common-licenses")
WORDNET_DIR = Path("/usr/share/wordnet")  # wordnet-base: example sentences in the glosses
# Fortune files in Chinese or of ASCII art: not English prose.
_NON_PROSE = {"chinese", "tang300", "song100", "art", "ascii-art", "translate-me", "perl", "linux", "debian"}

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()  # fmt: skip
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_TITLES = {"mr.": "mister", "mrs.": "missus", "dr.": "doctor", "st.": "saint", "jr.": "junior", "vs.": "versus",
           "etc.": "et cetera", "prof.": "professor", "mt.": "mount", "e.g.": "for example", "i.e.": "that is"}  # fmt: skip
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at "}
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")


@dataclass(frozen=True)
class Sentence:
    """One normalized sentence.

    Attributes:
        words: the transcript, lower-case words separated by single spaces.
        spoken: what the voices read: the same words with ``,`` and a final ``.``/``?``/``!`` for prosody.
        source: the file it came from.
    """

    words: str
    spoken: str
    source: str


@dataclass(frozen=True)
class GlossSource:
    """The glosses (definitions, examples removed) of a WordNet ``data.*`` file, as a text source.

    The same file as the ``wordnet`` source, read another way: :func:`collect_sentences` reads a plain path to a
    WordNet data file for its examples and a ``GlossSource`` for its definitions.
    """

    path: Path


@dataclass
class TextFilter:
    """Which normalized sentences to keep.

    Attributes:
        min_words: fewest words in a sentence.
        max_words: most words in a sentence.
        max_word_chars: longest word accepted (in characters).
    """

    min_words: int = 3
    max_words: int = 15
    max_word_chars: int = 18


def english_sources(names: Iterable[str] = ("fortunes", "licenses")) -> list[Path | GlossSource]:
    """Text files of the named Debian sources present on this machine, in a fixed order.

    Args:
        names: ``fortunes`` (English prose fortune files), ``licenses`` (``/usr/share/common-licenses``),
            ``wordnet`` (example sentences of WordNet's glosses), ``wordnet-glosses`` (the definitions themselves:
            ~97,000 phrases of 3-15 dictionary words, such as ``a person belonging to no caste``).

    Raises:
        CifstError: an unknown name, or a source whose package is not installed.
    """
    out: list[Path | GlossSource] = []
    for name in names:
        if name == "fortunes":
            found = [p for p in sorted(FORTUNE_DIR.glob("*")) if p.is_file() and not p.suffix and not p.is_symlink()
                     and p.name not in _NON_PROSE] if FORTUNE_DIR.is_dir() else []  # fmt: skip
            package = "fortunes"
        elif name == "licenses":
            found = [p for p in sorted(LICENSE_DIR.glob("*")) if p.is_file() and not p.is_symlink()]
            package = "base-files"
        elif name == "wordnet":
            found = wordnet_sources()
            package = "wordnet-base"
        elif name == "wordnet-glosses":
            found = [GlossSource(p) for p in wordnet_sources()]
            package = "wordnet-base"
        else:
            raise CifstError(
                f"unknown text source '{name}': use fortunes, licenses, wordnet or wordnet-glosses"
            )
        if not found:
            raise CifstError(f"text source '{name}' is not installed here (apt-get install {package})")
        out += found
    return out


def default_english_sources() -> list[Path]:
    """Fortune files (English prose ones) and licence texts present on this machine, sorted."""
    return english_sources(("fortunes", "licenses"))


def wordnet_sources() -> list[Path]:
    """WordNet's ``data.{noun,verb,adj,adv}`` files when the ``wordnet-base`` package is installed."""
    return [
        WORDNET_DIR / f"data.{pos}"
        for pos in ("noun", "verb", "adj", "adv")
        if (WORDNET_DIR / f"data.{pos}").is_file()
    ]


def _wordnet_gloss_fields(path: Path) -> Iterator[str]:
    """Yield the gloss field (after ``|``) of every synset line of a WordNet ``data.*`` file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  ") or "|" not in line:
                continue  # licence header, or a synset without a gloss
            yield line.split("|", 1)[1]


def iter_wordnet_examples(path: Path) -> Iterator[str]:
    """Yield the quoted example sentences of a WordNet ``data.*`` file (``| gloss; "example"; "example"``)."""
    for gloss in _wordnet_gloss_fields(path):
        yield from re.findall(r'"([^"]+)"', gloss)


def iter_wordnet_glosses(path: Path) -> Iterator[str]:
    """Yield the definitions of a WordNet ``data.*`` file: each ``;``-separated part of a gloss with its quoted
    examples and parenthesized notes (``(botany)``, ``(`fly` is also used ...)``) removed."""
    for gloss in _wordnet_gloss_fields(path):
        gloss = re.sub(r"\([^)]*\)", "", re.sub(r'"[^"]*"', "", gloss))
        for part in gloss.split(";"):
            if part.strip():
                yield part.strip()


def iter_fortune_entries(path: Path) -> Iterator[str]:
    """Yield the entries of a fortune file (``%`` lines separate them), attributions (``-- Name``) dropped."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines() + ["%"]:
        if raw.strip() == "%":
            if lines:
                yield "\n".join(lines)
            lines = []
        elif not re.match(r"^\s*(--|―|—)", raw):
            lines.append(raw)


def iter_plain_paragraphs(path: Path) -> Iterator[str]:
    """Yield blank-line-separated paragraphs of a plain text file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for para in re.split(r"\n\s*\n", text):
        if para.strip():
            yield para


def split_sentences(paragraph: str) -> list[str]:
    """Unwrap a paragraph and split it after ``.``/``?``/``!`` followed by space and a capital or quote.

    Titles such as ``Mr.`` do not end a sentence.
    """
    text = re.sub(r"\s+", " ", paragraph).strip()
    if not text:
        return []
    pieces = re.split(r"(?<=[.?!])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])", text)
    out: list[str] = []
    for piece in pieces:
        if out and out[-1].split()[-1].lower() in _TITLES:
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def number_to_words(n: int) -> str:
    """Spell a non-negative integer below 10^12 in English words, ``and``-less (``101`` -> ``one hundred one``)."""
    if n < 0 or n >= 10**12:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return number_to_words(high) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    last = words.split()[-1]
    irregular = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                 "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
    if last in irregular:
        new = irregular[last]
    elif last.endswith("y"):
        new = last[:-1] + "ieth"
    else:
        new = last + "th"
    return " ".join(words.split()[:-1] + [new])


def _spell_number(token: str) -> str | None:
    """Words for a numeric token (``42``, ``1984``, ``3rd``, ``1,000``), or ``None`` when it is not one we say."""
    m = _ORDINAL_SUFFIX.match(token)
    if m:
        return _ordinal(number_to_words(int(m.group(1))))
    plain = token.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", token) else token
    if not plain.isdigit() or len(plain) > 12 or (len(plain) > 1 and plain[0] == "0"):
        return None
    n = int(plain)
    if len(plain) == 4 and 1100 <= n <= 2099 and n % 100 != 0 and not 2000 <= n <= 2009:
        # years as people say them: 1984 -> nineteen eighty four
        high, low = divmod(n, 100)
        return number_to_words(high) + " " + (number_to_words(low) if low >= 10 else "oh " + _ONES[low])
    return number_to_words(n)


def normalize_sentence(
    raw: str, lexicon: Container[str], flt: TextFilter | None = None
) -> tuple[str, str] | None:
    """Normalize one raw sentence for speech.

    Args:
        raw: One sentence as it appears in the source.
        lexicon: Words a voice and the lexicon know (lower case); a sentence with any other word is rejected.
        flt: Length limits.

    Returns:
        ``(words, spoken)``: the transcript and the text the voices read, or ``None`` when the sentence is rejected.
    """
    flt = flt or TextFilter()
    text = re.sub(r"^\(?(\d+|[A-Za-z])[.)]\s+", "", raw.strip())  # list markers: "1. ", "a) "
    if not text or any(ord(c) > 127 and c not in "‘’“”—–" for c in text):
        return None
    text = text.replace("‘", "'").replace("’", "'").replace("“", '"').replace("”", '"')
    text = text.replace("—", ", ").replace("–", ", ").replace("--", ", ")
    for title, spoken in _TITLES.items():
        text = re.sub(r"(?i)(?<![\w.])" + re.escape(title) + r"(?=\s|$)", spoken, text)
    for sym, spoken in _SYMBOLS.items():
        text = text.replace(sym, spoken)
    final = "?" if text.rstrip("\"') ").endswith("?") else "!" if text.rstrip("\"') ").endswith("!") else "."
    words: list[str] = []
    spoken_parts: list[str] = []
    for token in re.findall(r"[A-Za-z0-9'.,\-]+|[;:,!?]", text):
        if token in ";:,!?":
            if spoken_parts and not spoken_parts[-1].endswith(","):
                spoken_parts[-1] += ","
            continue
        core = token.strip(".,'-")
        if not core:
            continue
        if "." in core:  # u.s.a, 3.14, e.g: spelled letters or decimals we do not say the same way every time
            return None
        number = _spell_number(core)
        if number is not None:
            new = number.split()
        elif re.search(r"\d", core):
            return None
        else:
            if len(core) > 1 and core.isupper() and "'" not in core and "-" not in core:
                return None  # an acronym a voice would spell out (IBM) or shout (FREE): skip the sentence
            new = [w for w in core.lower().split("-") if w]
        for w in new:
            w = w.strip("'")
            if not w or len(w) > flt.max_word_chars or w not in lexicon or (len(w) == 1 and w not in "aio"):
                return None
            words.append(w)
            spoken_parts.append(w)
        if token.endswith(",") and spoken_parts:
            spoken_parts[-1] += ","
    if not flt.min_words <= len(words) <= flt.max_words:
        return None
    spoken = " ".join(spoken_parts).rstrip(",") + final
    return " ".join(words), spoken


def _is_fortune_file(path: Path) -> bool:
    """A fortune file has lines holding only ``%`` between its entries."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return any(line.rstrip("\r\n") == "%" for _, line in zip(range(2000), f))


def collect_sentences(
    sources: Iterable[Path | GlossSource], lexicon: Container[str], flt: TextFilter | None = None
) -> list[Sentence]:
    """Read every source, split, normalize, filter and de-duplicate (by transcript) its sentences.

    Fortune files (``%`` separator lines) are read entry by entry, WordNet data files example by example (or
    definition by definition for a :class:`GlossSource`), other files paragraph by paragraph. Order: by source, then
    by position.
    """
    seen: set[str] = set()
    out: list[Sentence] = []
    for src in sources:
        if isinstance(src, GlossSource):
            path, entries, name = src.path, iter_wordnet_glosses(src.path), f"{src.path.name}:glosses"
        elif (path := Path(src)).parent == WORDNET_DIR and path.name.startswith("data."):
            entries, name = iter_wordnet_examples(path), path.name
        elif _is_fortune_file(path):
            entries, name = iter_fortune_entries(path), path.name
        else:
            entries, name = iter_plain_paragraphs(path), path.name
        for entry in entries:
            for raw in split_sentences(entry):
                norm = normalize_sentence(raw, lexicon, flt)
                if norm is None or norm[0] in seen:
                    continue
                seen.add(norm[0])
                out.append(Sentence(words=norm[0], spoken=norm[1], source=name))
    return out
