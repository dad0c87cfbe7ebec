"""Text normalization for training and scoring text: a raw transcript -> the canonical form tokenizers train and
decode in.

Steps, each optional: Unicode NFKC (full-width Latin and digits to ASCII, compatibility forms folded), lower or
upper case, punctuation removed (Unicode categories P* and S*, except an apostrophe or hyphen inside a word, as in
"don't" and "x-ray"), whitespace collapsed, and canonical spacing: CJK characters stand without spaces between them,
while a space separates a CJK character from an adjacent Latin word. The canonical form is what
``Tokenizer.decode`` produces, so ``decode(encode(text)) == normalize_text(text)`` for text in the token set.

Reference: the text normalization of WeNet/FunASR data preparation (NFKC, punctuation removal, CJK spacing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["NormalizeConfig", "normalize_text", "is_cjk", "split_cjk", "join_units"]

# Han ideographs (unified, extensions A-G, compatibility), kana, and the iteration mark; Hangul is left to the
# word-level tokenizers (Korean separates words with spaces).
_CJK_RANGES = (
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2FA1F),
    (0x30000, 0x323AF),
)


_CJK_CHAR = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES) + "]")


def is_cjk(ch: str) -> bool:
    """True for one Han or kana character (written without spaces between characters)."""
    return _CJK_CHAR.fullmatch(ch) is not None


def split_cjk(text: str) -> list[str]:
    """Split normalized text into units: each CJK character alone, each whitespace-separated non-CJK run whole.

    ``"我们 love 你"`` -> ``["我", "们", "love", "你"]``; ``"ab你好cd"`` -> ``["ab", "你", "好", "cd"]``.
    """
    if not _CJK_CHAR.search(text):  # the common case in Latin-script corpora: one scan, no loop per character
        return text.split()
    units: list[str] = []
    for word in text.split():
        run = []
        for ch in word:
            if is_cjk(ch):
                if run:
                    units.append("".join(run))
                    run = []
                units.append(ch)
            else:
                run.append(ch)
        if run:
            units.append("".join(run))
    return units


def join_units(units: list[str]) -> str:
    """Inverse of :func:`split_cjk`: CJK characters joined directly, a space wherever a non-CJK unit is involved."""
    out: list[str] = []
    prev_cjk = None
    for u in units:
        if not u:
            continue
        cjk = len(u) == 1 and is_cjk(u)
        if out and not (cjk and prev_cjk):
            out.append(" ")
        out.append(u)
        prev_cjk = cjk
    return "".join(out)


@dataclass
class NormalizeConfig:
    """Normalization options (stored in ``tokenizer.yaml`` under ``normalize``).

    Attributes:
        nfkc: Apply Unicode NFKC.
        case: ``keep``, ``lower`` or ``upper``.
        remove_punctuation: Drop punctuation and symbols (word-internal ``'`` and ``-`` are kept).
        cjk_spacing: Put text in canonical CJK spacing (no spaces between CJK characters).
    """

    nfkc: bool = True
    case: str = "keep"
    remove_punctuation: bool = True
    cjk_spacing: bool = True

    def __post_init__(self):
        if self.case not in ("keep", "lower", "upper"):
            raise ValueError(f"normalize case must be keep, lower or upper, got '{self.case}'")


_INNER = {"'", "-", "\u2019"}


def _word_char(ch: str) -> bool:
    return ch.isalnum() and not is_cjk(ch)


def _strip_punct(text: str) -> str:
    chars = list(text)
    out = []
    for i, ch in enumerate(chars):
        cat = unicodedata.category(ch)
        if cat[0] in "PS":
            if (
                ch in _INNER
                and 0 < i < len(chars) - 1
                and _word_char(chars[i - 1])
                and _word_char(chars[i + 1])
            ):
                out.append("'" if ch == "\u2019" else ch)
            else:
                out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


_WS = re.compile(r"\s+")


def normalize_text(text: str, config: NormalizeConfig | None = None) -> str:
    """Normalize one transcript.

    Args:
        text: Raw text.
        config: Options; default :class:`NormalizeConfig`.

    Returns:
        The normalized text (possibly empty).
    """
    config = config or NormalizeConfig()
    if config.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if config.case == "lower":
        text = text.lower()
    elif config.case == "upper":
        text = text.upper()
    if config.remove_punctuation:
        text = _strip_punct(text)
    text = _WS.sub(" ", text).strip()
    if config.cjk_spacing:
        text = join_units(split_cjk(text))
    return text
