"""Kaldi data directories as plain-text contracts: ``text``, ``wav.scp``, ``utt2spk``, ``spk2utt``, ``segments``,
``utt2dur``. Reading checks each line and raises :class:`asr.errors.InputError` naming the file, the line and the
problem (empty key, duplicate key, missing value, bad UTF-8, unsorted keys where sorting matters). Writing is atomic
and sorts in the C locale (byte order of the UTF-8 keys), as Kaldi's ``utils/validate_data_dir.sh`` expects.

Reference: Kaldi's data-preparation docs (``kaldi-asr.org/doc/data_prep.html``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.errors import InputError

__all__ = [
    "Segment",
    "iter_utf8_lines",
    "iter_kv_lines",
    "read_kv",
    "read_text",
    "read_wav_scp",
    "read_utt2spk",
    "read_spk2utt",
    "read_segments",
    "read_utt2dur",
    "write_kv",
    "write_text",
    "write_spk2utt",
    "utt2spk_to_spk2utt",
    "c_sorted",
]


def c_sorted(keys: Iterable[str]) -> list[str]:
    """Sort keys as ``LC_ALL=C sort`` does: by the bytes of their UTF-8 encoding."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def iter_utf8_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for every line of a UTF-8 text file, line ends (``\\n``, ``\\r\\n``) removed.

    The one place our text readers decode bytes, so every one of them names the file and line of bad UTF-8.

    Raises:
        InputError: a line that is not valid UTF-8 (byte offset and value named).
    """
    path = Path(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise InputError(
                    path,
                    lineno,
                    f"not valid UTF-8 (byte {e.start}: {raw[e.start : e.start + 1]!r}); "
                    "convert the file with iconv -t UTF-8",
                ) from None


def iter_kv_lines(path: str | os.PathLike, allow_empty_value: bool = True) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line_number, key, value)`` for each non-blank line ``key<space or tab>value`` of ``path``.

    The key ends at the first space or tab; the value is the rest with surrounding whitespace removed.

    Raises:
        InputError: bad UTF-8 (with the line number), a line that starts with whitespace (empty key), or an empty
            value when ``allow_empty_value`` is false.
    """
    for lineno, line in iter_utf8_lines(path):
        if line.startswith("\ufeff") and lineno == 1:
            line = line[1:]
        if not line.strip():
            continue
        if line[0] in " \t":
            raise InputError(path, lineno, "line starts with whitespace: the utterance key is empty")
        parts = line.split(maxsplit=1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise InputError(path, lineno, f"key '{key}' has no value")
        yield lineno, key, value


def read_kv(
    path: str | os.PathLike, allow_empty_value: bool = True, require_sorted: bool = False
) -> dict[str, str]:
    """Read a ``key value`` file into an insertion-ordered dict.

    Args:
        path: The file.
        allow_empty_value: Accept ``key`` alone on a line (value ``""``), as a ``text`` file with an empty
            transcript has.
        require_sorted: Raise if keys are not in C-locale order (Kaldi's tools merge files by key).

    Raises:
        InputError: on a duplicate key (both line numbers named), unsorted keys, or any error of
            :func:`iter_kv_lines`.
    """
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    prev: bytes | None = None
    for lineno, key, value in iter_kv_lines(path, allow_empty_value=allow_empty_value):
        if key in out:
            raise InputError(path, lineno, f"duplicate key '{key}' (first on line {first_line[key]})")
        kb = key.encode("utf-8")
        if require_sorted and prev is not None and kb < prev:
            raise InputError(
                path,
                lineno,
                f"key '{key}' is out of order: the file must be sorted "
                "with LC_ALL=C sort (cifst data fix sorts a data directory)",
            )
        prev = kb
        out[key] = value
        first_line[key] = lineno
    return out


def read_text(path: str | os.PathLike, require_sorted: bool = False) -> dict[str, str]:
    """Read a Kaldi ``text`` file (``utt transcript``); an utterance with no words maps to ``""``."""
    return read_kv(path, allow_empty_value=True, require_sorted=require_sorted)


def read_wav_scp(path: str | os.PathLike, require_sorted: bool = False) -> dict[str, str]:
    """Read ``wav.scp``: ``utt path`` or ``utt command ... |`` (a pipe producing WAV on stdout)."""
    return read_kv(path, allow_empty_value=False, require_sorted=require_sorted)


def read_utt2spk(path: str | os.PathLike, require_sorted: bool = False) -> dict[str, str]:
    """Read ``utt2spk`` (``utt speaker``); the speaker must be a single token."""
    out = read_kv(path, allow_empty_value=False, require_sorted=require_sorted)
    for lineno, key, value in iter_kv_lines(path):
        if len(value.split()) != 1:
            raise InputError(
                path, lineno, f"utterance '{key}' must map to exactly one speaker, got '{value}'"
            )
    return out


def read_spk2utt(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read ``spk2utt`` (``speaker utt1 utt2 ...``)."""
    return {k: v.split() for k, v in read_kv(path, allow_empty_value=False).items()}


@dataclass(frozen=True)
class Segment:
    """One line of ``segments``: a span of a recording in seconds."""

    recording: str
    start: float
    end: float


def read_segments(path: str | os.PathLike) -> dict[str, Segment]:
    """Read ``segments`` (``utt recording start end``, seconds; ``end`` -1 means to the end of the recording).

    Raises:
        InputError: wrong field count, non-numeric times, or ``end <= start``.
    """
    out: dict[str, Segment] = {}
    seen: dict[str, int] = {}
    for lineno, key, value in iter_kv_lines(path, allow_empty_value=False):
        fields = value.split()
        if len(fields) != 3:
            raise InputError(
                path, lineno, f"expected 'utt recording start end', got {len(fields) + 1} fields"
            )
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            raise InputError(
                path, lineno, f"start/end must be numbers, got '{fields[1]}' '{fields[2]}'"
            ) from None
        if start < 0 or (end != -1 and end <= start):
            raise InputError(path, lineno, f"bad segment times start={start} end={end}")
        if key in out:
            raise InputError(path, lineno, f"duplicate key '{key}' (first on line {seen[key]})")
        out[key] = Segment(fields[0], start, end)
        seen[key] = lineno
    return out


def read_utt2dur(path: str | os.PathLike) -> dict[str, float]:
    """Read ``utt2dur`` (``utt seconds``)."""
    out: dict[str, float] = {}
    for lineno, key, value in iter_kv_lines(path, allow_empty_value=False):
        try:
            out[key] = float(value)
        except ValueError:
            raise InputError(path, lineno, f"duration must be a number, got '{value}'") from None
    return out


def write_kv(
    path: str | os.PathLike, items: Mapping[str, str] | Iterable[tuple[str, str]], sort: bool = True
) -> None:
    """Write ``key value`` lines atomically, C-locale sorted by key unless ``sort`` is false.

    Raises:
        ValueError: a key that is empty or contains whitespace (it would not read back).
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    for key, _ in pairs:
        if not key or any(c.isspace() for c in key):
            raise ValueError(
                f"cannot write key {key!r} to {path}: keys must be non-empty and contain no whitespace"
            )
    if sort:
        pairs.sort(key=lambda kv: kv[0].encode("utf-8"))
    with atomic_write(path) as f:
        for key, value in pairs:
            f.write(f"{key} {value}\n" if value else f"{key}\n")


def write_text(path: str | os.PathLike, texts: Mapping[str, str]) -> None:
    """Write a Kaldi ``text`` file atomically, sorted."""
    write_kv(path, texts)


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    """Invert ``utt2spk``; utterance lists and speakers in C-locale order."""
    out: dict[str, list[str]] = {}
    for utt in c_sorted(utt2spk):
        out.setdefault(utt2spk[utt], []).append(utt)
    return {spk: out[spk] for spk in c_sorted(out)}


def write_spk2utt(path: str | os.PathLike, spk2utt: Mapping[str, list[str]]) -> None:
    """Write ``spk2utt`` atomically."""
    write_kv(path, {spk: " ".join(utts) for spk, utts in spk2utt.items()})
