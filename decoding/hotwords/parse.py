"""Hotword list files -> :class:`Hotword` entries (phrase, optional weight, source line), duplicates merged.

Input: a UTF-8 text file, one hotword per line, in either of the two styles users bring from the peer toolkits:

* FunASR style ``phrase weight``: the weight is the last whitespace-separated field when it parses as a number
  (``阿里巴巴 20``, ``new york 2.5``);
* sherpa-onnx style ``phrase :weight``: the weight follows a colon (``HELLO WORLD :2.0``), with or without a space
  before the colon.

The weight is optional (the command-line default applies), ``#`` starts a comment when it opens the line or follows
whitespace (``C#`` stays a phrase), blank lines are skipped, whitespace inside a phrase is collapsed to one space.
A phrase that is itself a number at its end (``apollo 11``) is read FunASR-style as ``apollo`` with weight 11 in
``auto`` style: give it an explicit weight (``apollo 11 :2``) or parse with ``style="plain"``. Output:
:class:`HotwordList`, one :class:`Hotword` per distinct phrase in first-seen order, duplicates merged to the
largest weight (an explicit weight wins over the default). Per-utterance lists: :func:`read_hotwords_scp` reads a
Kaldi-style ``utt_key path`` file.

References: FunASR ``runtime`` hotword files (``phrase weight``) and sherpa-onnx ``--hotwords-file``
(``phrase :score``); the weight meaning here is our own (see ``context_graph``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from asr.data.kaldi_dir import iter_utf8_lines
from asr.errors import InputError

__all__ = ["Hotword", "HotwordList", "parse_hotwords", "parse_hotword_lines", "read_hotwords_scp", "STYLES"]

STYLES = ("auto", "funasr", "sherpa", "plain")

_COMMENT = re.compile(r"(^|\s)#.*$")
_SHERPA = re.compile(r"^(?P<phrase>.*?)\s*:\s*(?P<weight>[^\s:]+)$")


@dataclass
class Hotword:
    """One hotword as read from a file.

    Attributes:
        phrase: The phrase, whitespace collapsed (not tokenized yet).
        weight: Whole-phrase weight from the file, or ``None`` when the line gave none (the default applies).
        line: 1-based line of its first occurrence.
        path: File it came from (``None`` for in-memory lists).
        merged_lines: Lines of later duplicates that were merged into this entry.
    """

    phrase: str
    weight: float | None
    line: int
    path: str | None = None
    merged_lines: list[int] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.path or '<hotwords>'}:{self.line}"


@dataclass
class HotwordList:
    """Distinct hotwords of one file, in first-seen order."""

    hotwords: list[Hotword]
    path: str | None = None

    def __len__(self) -> int:
        return len(self.hotwords)

    def __iter__(self):
        return iter(self.hotwords)

    def merged(self, other: HotwordList) -> HotwordList:
        """Union of two lists (this one first), duplicates merged as within one file."""
        out = _Merger(self.path)
        for h in list(self.hotwords) + list(other.hotwords):
            out.add(Hotword(h.phrase, h.weight, h.line, h.path, list(h.merged_lines)))
        return HotwordList(out.items(), self.path)


def _parse_weight(text: str) -> float | None:
    try:
        w = float(text)
    except ValueError:
        return None
    return w if math.isfinite(w) else None


def _split_line(line: str, style: str) -> tuple[str, float | None, str | None]:
    """Return ``(phrase, weight, error)`` for one comment-stripped, non-blank line."""
    if style in ("auto", "sherpa"):
        m = _SHERPA.match(line)
        if m and ":" in line:
            w = _parse_weight(m.group("weight"))
            if w is None:
                if style == "sherpa":
                    return "", None, f"weight after ':' must be a number, got '{m.group('weight')}'"
            else:
                return m.group("phrase"), w, None
        if style == "sherpa":
            return line, None, None
    if style in ("auto", "funasr"):
        fields = line.split()
        if len(fields) >= 2:
            w = _parse_weight(fields[-1])
            if w is not None:
                return " ".join(fields[:-1]), w, None
    return line, None, None


class _Merger:
    def __init__(self, path: str | None):
        self.path = path
        self.by_phrase: dict[str, Hotword] = {}

    def add(self, h: Hotword) -> None:
        old = self.by_phrase.get(h.phrase)
        if old is None:
            self.by_phrase[h.phrase] = h
            return
        old.merged_lines.append(h.line)
        if h.weight is not None and (old.weight is None or h.weight > old.weight):
            old.weight = h.weight

    def items(self) -> list[Hotword]:
        return list(self.by_phrase.values())


def parse_hotword_lines(lines: list[str], path: str | None = None, style: str = "auto") -> HotwordList:
    """Parse hotword lines (see the module docstring for the format).

    Args:
        lines: Text lines (newlines optional).
        path: Name used in error messages and kept in each :class:`Hotword`.
        style: ``auto`` (both styles), ``funasr`` (numeric last field is the weight), ``sherpa`` (only ``:weight``),
            ``plain`` (no weights: the whole line is the phrase).

    Returns:
        The distinct hotwords; duplicates (same phrase after whitespace collapsing) merged to the largest weight.

    Raises:
        InputError: a bad weight in ``sherpa`` style, or an unknown style.
    """
    if style not in STYLES:
        raise InputError(path, None, f"unknown hotword style '{style}'; use one of {', '.join(STYLES)}")
    merger = _Merger(path)
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        phrase, weight, err = _split_line(line, style)
        if err:
            raise InputError(path, lineno, err)
        phrase = " ".join(phrase.split())
        if not phrase:
            raise InputError(path, lineno, f"line '{line}' has a weight but no phrase")
        merger.add(Hotword(phrase, weight, lineno, path))
    return HotwordList(merger.items(), path)


def parse_hotwords(path: str | os.PathLike, style: str = "auto") -> HotwordList:
    """Read a hotword file (UTF-8).

    Raises:
        InputError: bad UTF-8 (naming the line) or a bad weight.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    lines = [line for _, line in iter_utf8_lines(path)]
    return parse_hotword_lines(lines, str(path), style)


def read_hotwords_scp(path: str | os.PathLike) -> dict[str, Path]:
    """Read a per-utterance hotword map ``utt_key hotword_file``.

    A relative file path is taken relative to the current directory (as Kaldi scp files are) when it exists there,
    else relative to the scp file's folder.

    Raises:
        InputError: a line without a file, or a key given twice.
    """
    from asr.data.kaldi_dir import iter_kv_lines

    path = Path(path)
    out: dict[str, Path] = {}
    for lineno, key, value in iter_kv_lines(path, allow_empty_value=False):
        if key in out:
            raise InputError(
                path, lineno, f"utterance '{key}' is listed twice; give each utterance one hotword file"
            )
        p = Path(value)
        out[key] = p if p.is_absolute() or p.exists() else path.parent / p
    return out
