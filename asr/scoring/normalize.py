"""Text -> scoring tokens: normalization (lower-case, special tags, BPE markers, punctuation, a user mapping) and the
split into units for WER or CER.

Units (``mode``):

- ``wer``: whitespace-separated words, except that every CJK character (Han ideographs, kana) is a word of its own,
  so mixed Chinese-English text ``我 用 python 写code`` scores as ``我 用 python 写 code``. This is the "mixed error
  rate" Chinese ASR teams report as CER on Mandarin/English code-switched sets.
- ``cer``: every character except whitespace is a unit (spaces are dropped); ``<...>`` tags stay one unit.
- ``auto``: the ``wer`` split; the report calls the figure CER when most reference units are CJK characters
  (a Mandarin set) and WER otherwise. Latin words are never split into letters in ``auto``.

Normalization runs in a fixed order: NFKC, BPE markers, special tags, lower-case, punctuation, mapping, unit split.
References: WeNet ``tools/compute-wer.py`` (CJK split, tag handling); jiwer's transformation presets.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field

from asr.data.kaldi_dir import iter_kv_lines
from asr.errors import InputError

__all__ = [
    "NormalizeConfig",
    "Normalizer",
    "is_cjk_char",
    "read_mapping",
    "split_units",
]

_SPECIAL_DEFAULT = ("<s>", "</s>", "<unk>", "<sos/eos>", "<blk>", "<blank>", "<eps>")


def is_cjk_char(c: str) -> bool:
    """True for characters scored one per unit in WER mode: Han ideographs (all CJK blocks) and Japanese kana."""
    o = ord(c)
    return (
        0x4E00 <= o <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= o <= 0x4DBF  # Extension A
        or 0x20000 <= o <= 0x3134F  # Extensions B..G
        or 0xF900 <= o <= 0xFAFF  # Compatibility Ideographs
        or 0x2F800 <= o <= 0x2FA1F  # Compatibility Supplement
        or 0x3040 <= o <= 0x30FF  # Hiragana, Katakana
        or 0x31F0 <= o <= 0x31FF  # Katakana Phonetic Extensions
        or o == 0x3007  # 〇
    )


@dataclass
class NormalizeConfig:
    """How reference and hypothesis texts are normalized before alignment (both sides alike).

    Attributes:
        mode: ``"wer"``, ``"cer"`` or ``"auto"`` (module docstring).
        lower_case: Compare case-insensitively (Unicode ``casefold``).
        strip_special: Remove special tokens listed in ``special_tokens`` (default ``<s> </s> <unk>`` and the
            blank/eps/sos symbols of tokens.txt).
        special_tokens: The tokens ``strip_special`` removes.
        strip_bpe: Undo BPE segmentation: ``@@ `` continuation markers (subword-nmt) are joined, and sentencepiece
            ``▁`` pieces are joined into words (``▁he llo ▁world`` -> ``hello world``).
        strip_punct: Replace punctuation (Unicode categories P*, e.g. ``,.!?，。！？、“”``) by spaces; an apostrophe
            between two letters (``don't``) is kept.
        nfkc: Unicode NFKC normalization first: full-width ``ＡＢＣ１２３`` -> ``ABC123``, half-width katakana ->
            full-width, ligatures and circled digits decomposed.
        mapping: Word-level replacements applied after the steps above: word -> list of words (empty list deletes
            the word), e.g. from :func:`read_mapping`.
    """

    mode: str = "wer"
    lower_case: bool = False
    strip_special: bool = False
    special_tokens: tuple[str, ...] = _SPECIAL_DEFAULT
    strip_bpe: bool = False
    strip_punct: bool = False
    nfkc: bool = False
    mapping: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ("wer", "cer", "auto"):
            raise ValueError(f"mode must be 'wer', 'cer' or 'auto', got '{self.mode}'")


def read_mapping(path: str | os.PathLike, lower_case: bool = False) -> dict[str, list[str]]:
    """Read a mapping file: ``word replacement words ...`` per line (no replacement = delete the word).

    Example lines: ``ok okay``, ``uh`` (filler removed), ``wanna want to``. Lines starting with ``#`` are comments.

    Raises:
        InputError: a word listed twice (naming both lines) or bad UTF-8.
    """
    out: dict[str, list[str]] = {}
    first: dict[str, int] = {}
    for lineno, key, value in iter_kv_lines(path):
        if key.startswith("#"):
            continue
        if lower_case:
            key, value = key.casefold(), value.casefold()
        if key in out:
            raise InputError(path, lineno, f"word '{key}' is mapped twice (first on line {first[key]})")
        out[key] = value.split()
        first[key] = lineno
    return out


_BPE_AT = re.compile(r"@@( |$)")


def _punct_to_space(text: str) -> str:
    chars = list(text)
    n = len(chars)
    for i, c in enumerate(chars):
        if unicodedata.category(c).startswith("P"):
            if c in "'’" and 0 < i < n - 1 and chars[i - 1].isalpha() and chars[i + 1].isalpha():
                continue
            chars[i] = " "
    return "".join(chars)


# The code points is_cjk_char accepts, as a regex character class.
_CJK = (
    "\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f\U0002f800-\U0002fa1f"
)
_TAG = r"(?<!\S)<\S+>(?!\S)"  # a whole word <...> (at least one character inside)
_WER_UNITS = re.compile(rf"{_TAG}|[{_CJK}]|[^\s{_CJK}]+")
_CER_UNITS = re.compile(rf"{_TAG}|\S")


def split_units(words: list[str], mode: str) -> list[str]:
    """Split whitespace words into scoring units: CJK characters apart (``wer``/``auto``) or every character
    (``cer``); a ``<tag>`` word stays whole in both.
    """
    text = " ".join(words)
    if mode == "cer":
        return _CER_UNITS.findall(text)
    if text.isascii():
        return list(words)
    return _WER_UNITS.findall(text)


class Normalizer:
    """Applies a :class:`NormalizeConfig` to texts.

    Args:
        config: The normalization settings.
    """

    def __init__(self, config: NormalizeConfig | None = None):
        self.config = config or NormalizeConfig()
        c = self.config
        self._special = (
            {t.casefold() if c.lower_case else t for t in c.special_tokens} if c.strip_special else set()
        )
        self._mapping = {(k.casefold() if c.lower_case else k): v for k, v in c.mapping.items()}

    def words(self, text: str) -> list[str]:
        """Normalized whitespace words of ``text`` (before the CJK/character split)."""
        c = self.config
        if c.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if c.strip_bpe:
            text = _BPE_AT.sub("", text)
            if "▁" in text:
                text = "".join(text.split()).replace("▁", " ")
        words = text.split()
        if c.strip_special:
            words = [w for w in words if w not in c.special_tokens]
        if c.lower_case:
            words = [w.casefold() for w in words]
        if c.strip_special:
            words = [w for w in words if w not in self._special]
        if c.strip_punct:
            # tags such as <unk> keep their angle brackets (those are symbols, not punctuation)
            words = _punct_to_space(" ".join(words)).split()
        if self._mapping:
            mapped: list[str] = []
            for w in words:
                rep = self._mapping.get(w)
                if rep is None:
                    mapped.append(w)
                else:
                    mapped.extend(rep)
            words = mapped
        return words

    def __call__(self, text: str) -> list[str]:
        """Scoring units of ``text``.

        Args:
            text: One transcript.

        Returns:
            The list of units the aligner compares.
        """
        return split_units(self.words(text), self.config.mode)
