"""Mandarin text for synthetic speech: the ``fortunes-zh`` files (modern Chinese sayings, Tang and Song poems) ->
sentences of Chinese characters (the transcript, characters separated by spaces for a character LM and CER) and the
tone-numbered pinyin espeak-ng's ``cmn-latn-pinyin`` voice reads (one syllable per character, from pypinyin).

Lines with terminal colour codes (titles and authors in the fortune files) are dropped; text is split at
``。！？；`` and at line ends; a sentence is kept when it is only CJK ideographs besides punctuation and its length is
within bounds. Reference: pypinyin ``lazy_pinyin(style=Style.TONE3, neutral_tone_with_five=True)``; espeak-ng's
``cmn-latn-pinyin`` voice (``ü`` written ``v``).
"""

from __future__ import annotations

import re
from pathlib import Path

from asr.data.synth.text import Sentence

__all__ = ["default_mandarin_sources", "to_pinyin", "collect_mandarin_sentences"]

FORTUNE_DIR = Path("/usr/share/games/fortunes")
_ZH_FILES = ("chinese", "tang300", "song100")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_PAUSE = "，、：,:"


def default_mandarin_sources() -> list[Path]:
    """The fortunes-zh files present on this machine."""
    return [FORTUNE_DIR / n for n in _ZH_FILES if (FORTUNE_DIR / n).is_file()]


def to_pinyin(chars: str) -> list[str]:
    """Tone-numbered pinyin, one syllable per CJK character (``绿`` -> ``lv4``; neutral tone ``5``)."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(chars, style=Style.TONE3, neutral_tone_with_five=True, v_to_u=False)


def _sentences_of(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if _ANSI.search(line) or line.strip() == "%":
            continue
        out += [s.strip() for s in re.split(r"[。！？；!?;]", line) if s.strip()]
    return out


def collect_mandarin_sentences(
    sources: list[Path], min_chars: int = 4, max_chars: int = 20
) -> list[Sentence]:
    """Read, split, filter and de-duplicate Mandarin sentences.

    Returns:
        Sentences whose ``words`` are the characters joined by spaces and whose ``spoken`` is the pinyin with
        commas where the text pauses.
    """
    seen: set[str] = set()
    out: list[Sentence] = []
    for path in sources:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        for raw in _sentences_of(text):
            chars, spoken = [], []
            ok = True
            for c in raw:
                if _HAN.match(c):
                    chars.append(c)
                    spoken.append(None)
                elif c in _PAUSE or c.isspace():
                    if spoken and spoken[-1] != ",":
                        spoken.append(",")
                elif c in "“”‘’《》「」『』（）()\"'—…·":
                    continue
                else:
                    ok = False  # digits, Latin letters or symbols the pinyin voice would not say as written
                    break
            if not ok or not min_chars <= len(chars) <= max_chars:
                continue
            words = " ".join(chars)
            if words in seen:
                continue
            pinyin = iter(to_pinyin("".join(chars)))
            parts: list[str] = []
            for s in spoken:
                if s is None:
                    parts.append(next(pinyin))
                elif parts:
                    parts[-1] += ","
            if not all(re.fullmatch(r"[a-zü]+[1-5],?", p) for p in parts):
                continue
            seen.add(words)
            out.append(
                Sentence(words=words, spoken=" ".join(parts).rstrip(",") + ".", source=Path(path).name)
            )
    return out
