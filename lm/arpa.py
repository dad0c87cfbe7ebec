"""ARPA back-off language model files: streaming reader and atomic streaming writer.

Input: an ARPA text file (plain or ``.gz``), the ``\\data\\`` format written by kenlm's ``lmplz`` and SRILM
(log10 probabilities, optional log10 back-off weights). Output: header counts (order -> number of n-grams) and a
stream of :class:`ArpaEntry` in file order, or, for writing, an ARPA file laid out exactly as ``lmplz`` lays it out
(header, one ``\\N-grams:`` section per order separated by blank lines, ``\\end\\``; floats printed as the shortest
decimal that round-trips a 32-bit float, as kenlm's ``util/float_to_string`` does).

Reference: the ARPA format as documented by SRILM (``ngram-format(5)``) and kenlm ``lm/read_arpa.cc`` (reader) and
``lm/builder/print.cc`` / ``lm/common/print.cc`` (writer). Our own code.

Malformed input raises :class:`asr.errors.InputError` naming the file and the line: bad or missing header counts,
a wrong number of fields on an n-gram line, non-numeric values, a section whose n-gram count differs from the header,
a missing ``\\end\\``.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from asr.data.atomic import atomic_write
from asr.errors import InputError

__all__ = [
    "ArpaEntry",
    "read_arpa_header",
    "iter_arpa",
    "read_arpa",
    "write_arpa",
    "ArpaWriter",
    "format_floats",
    "open_text",
]


_ARPA_FIELDS = re.compile("[ \t\r]+")


class ArpaEntry(NamedTuple):
    """One n-gram line of an ARPA file.

    Attributes:
        order: n, the number of words.
        words: The n words, oldest first (``("<s>", "the")``).
        logprob: log10 probability of the last word given the others.
        backoff: log10 back-off weight of the n-gram as a context; 0.0 when the line has none.
    """

    order: int
    words: tuple[str, ...]
    logprob: float
    backoff: float = 0.0


def open_text(path: str | os.PathLike, encoding: str = "utf-8") -> IO[str]:
    """Open a text file for reading, transparently un-gzipping ``*.gz``; ``"-"`` is stdin.

    Args:
        path: File path, a ``.gz`` file, or ``"-"`` for standard input.
        encoding: Text encoding.

    Returns:
        A text stream (the caller closes it; closing stdin's wrapper leaves stdin itself open).
    """
    if str(path) == "-":
        # a second reader on fd 0 that leaves stdin open when closed
        return io.TextIOWrapper(open(sys.stdin.fileno(), "rb", closefd=False), encoding=encoding)
    p = Path(path)
    with open(p, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding=encoding)
    return open(p, encoding=encoding)


def _parse_header(f: IO[str], path: str) -> tuple[dict[int, int], int, str | None]:
    """Read up to the first section marker. Returns (counts, line number reached, first section line or None)."""
    counts: dict[int, int] = {}
    lineno = 0
    seen_data = False
    for raw in f:
        lineno += 1
        line = raw.strip()
        if not seen_data:
            # Anything before \data\ is a comment (lmplz writes "# Input file: ..." there with --verbose_header).
            if line == "\\data\\":
                seen_data = True
            continue
        if not line:
            continue
        if line.startswith("ngram "):
            body = line[len("ngram ") :]
            key, eq, value = body.partition("=")
            try:
                order = int(key.strip())
                count = int(value.strip())
            except ValueError:
                raise InputError(
                    path,
                    lineno,
                    f"bad header line {line!r}: expected 'ngram N=COUNT' with integers N and COUNT",
                ) from None
            if not eq or order < 1 or count < 0:
                raise InputError(path, lineno, f"bad header line {line!r}: expected 'ngram N=COUNT', N >= 1")
            if order != len(counts) + 1:
                raise InputError(
                    path,
                    lineno,
                    f"header line {line!r} is out of sequence: expected 'ngram {len(counts) + 1}=...' next",
                )
            counts[order] = count
            continue
        if line.startswith("\\") and line.endswith("-grams:"):
            if not counts:
                raise InputError(
                    path, lineno, "no 'ngram N=COUNT' lines between \\data\\ and the first section"
                )
            return counts, lineno, line
        if line == "\\end\\":
            return counts, lineno, line
        raise InputError(path, lineno, f"unexpected line in the \\data\\ header: {line[:80]!r}")
    if not seen_data:
        raise InputError(path, None, "not an ARPA file: no '\\data\\' line found")
    if not counts:
        raise InputError(path, lineno, "no 'ngram N=COUNT' lines after \\data\\")
    return counts, lineno, None


def read_arpa_header(path: str | os.PathLike) -> dict[int, int]:
    """Read the ``\\data\\`` header of an ARPA file.

    Args:
        path: ARPA file (plain or gzip).

    Returns:
        ``{order: number of n-grams}`` for orders 1..N, in order.

    Raises:
        InputError: No ``\\data\\`` line, or a header line that is not ``ngram N=COUNT`` in sequence.
    """
    with open_text(path) as f:
        counts, _, _ = _parse_header(f, str(path))
    return counts


def _section_order(line: str, path: str, lineno: int) -> int:
    body = line[1 : -len("-grams:")]
    try:
        return int(body)
    except ValueError:
        raise InputError(path, lineno, f"bad section marker {line!r}: expected '\\N-grams:'") from None


def iter_arpa(path: str | os.PathLike) -> Iterator[ArpaEntry]:
    """Stream the n-grams of an ARPA file in file order, checking the file as it goes.

    Fields on an n-gram line are separated by tabs or spaces: ``logprob w1 ... wn [backoff]``; the back-off column
    is optional below the highest order and absent at the highest order.

    Args:
        path: ARPA file (plain or gzip).

    Yields:
        One :class:`ArpaEntry` per n-gram line (order 1 first).

    Raises:
        InputError: Naming file and line, for a malformed header, a wrong number of fields, a non-numeric
            probability or back-off, a section out of sequence, a section whose line count differs from the
            header, or a missing ``\\end\\``.
    """
    spath = str(path)
    with open_text(path) as f:
        counts, lineno, marker = _parse_header(f, spath)
        max_order = len(counts)
        expected_order = 1
        while marker is not None and marker != "\\end\\":
            order = _section_order(marker, spath, lineno)
            if order != expected_order:
                raise InputError(
                    spath, lineno, f"section {marker!r} out of sequence: expected '\\{expected_order}-grams:'"
                )
            if order > max_order:
                raise InputError(
                    spath, lineno, f"section {marker!r} but the header declares only {max_order} orders"
                )
            expected_order += 1
            want = counts[order]
            n_lo, n_hi = order + 1, order + (2 if order < max_order else 1)
            seen = 0
            marker = None
            section_line = lineno
            for raw in f:
                lineno += 1
                # Fields are separated by tabs/spaces only; a word may hold other Unicode spaces (lmplz keeps them).
                fields = raw.split() if raw.isascii() else _ARPA_FIELDS.split(raw.strip(" \t\r\n"))
                if not fields or fields == [""]:
                    continue
                first = fields[0]
                if first.startswith("\\"):
                    marker = raw.strip()
                    break
                n = len(fields)
                if n < n_lo or n > n_hi:
                    extra = "" if order < max_order else " (no back-off column at the highest order)"
                    raise InputError(
                        spath,
                        lineno,
                        f"{order}-gram line has {n} fields, expected "
                        f"{n_lo if n_lo == n_hi else f'{n_lo} or {n_hi}'}{extra}: {raw.strip()[:80]!r}",
                    )
                try:
                    logprob = float(first)
                    backoff = float(fields[-1]) if n == n_hi and n_hi != n_lo else 0.0
                except ValueError:
                    raise InputError(
                        spath, lineno, f"non-numeric probability or back-off in {raw.strip()[:80]!r}"
                    ) from None
                seen += 1
                if seen > want:
                    raise InputError(
                        spath,
                        lineno,
                        f"the \\{order}-grams: section has more than the {want} n-grams the header declares",
                    )
                yield ArpaEntry(order, tuple(fields[1 : order + 1]), logprob, backoff)
            if seen != want:
                raise InputError(
                    spath,
                    section_line,
                    f"the \\{order}-grams: section has {seen} n-grams but the header declares 'ngram {order}={want}'",
                )
        if marker is None:
            raise InputError(spath, lineno, "file ends without '\\end\\' (truncated?)")
        if expected_order <= max_order:
            raise InputError(
                spath,
                lineno,
                f"'\\end\\' reached but the header declares {max_order} orders and only "
                f"{expected_order - 1} sections were found",
            )


def read_arpa(path: str | os.PathLike) -> dict[tuple[str, ...], tuple[float, float]]:
    """Load a whole ARPA file into a dict (for tests and small models).

    Returns:
        ``{words: (log10 prob, log10 backoff)}`` for every n-gram.
    """
    return {e.words: (e.logprob, e.backoff) for e in iter_arpa(path)}


def format_floats(values: np.ndarray) -> list[str]:
    """Format numbers as kenlm prints floats: the shortest decimal that round-trips float32, no trailing ``.0``.

    kenlm uses double-conversion's ``ToShortestSingle`` with decimal notation for exponents in [-6, 21), so
    ``-99`` (not ``-99.0``), ``0``, ``-0.30103``, ``-1.2e-7``.

    Args:
        values: float array [n] (any float dtype; converted to float32 first).

    Returns:
        n strings.
    """
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0:
        return []
    out = arr.astype(str).tolist()
    for i, s in enumerate(out):
        if s.endswith(".0"):
            out[i] = s[:-2]
            if out[i] == "-0":
                out[i] = "0"
        elif "e" in s:
            out[i] = _kenlm_exponent(float(arr[i]), s)
    return out


def _kenlm_exponent(value: float, s: str) -> str:
    """Rewrite numpy's ``1.2e-07`` as double-conversion writes it: ``1.2e-7``, or decimal when 1e-6 <= |x| < 1e21."""
    mant, _, exp = s.partition("e")
    e = int(exp)
    if -6 <= e < 21:
        # numpy switches to scientific notation earlier than double-conversion; print positionally.
        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    if mant.endswith(".0"):
        mant = mant[:-2]
    return f"{mant}e{e}"


class ArpaWriter:
    """Write an ARPA file section by section, streaming, in lmplz's layout.

    Use as a context manager; the file appears atomically at ``path`` when the block ends without error (or the
    text goes to stdout when ``path`` is ``None`` or ``"-"``). Sections must come in order 1..N and each must have
    exactly the count given in the header.

    Args:
        path: Output file, or ``None``/``"-"`` for stdout.
        counts: ``{order: n-gram count}`` for orders 1..N, written in the header.
        comments: Lines written as ``# line`` before ``\\data\\`` (lmplz's ``--verbose_header``).
    """

    enabled = True  # (a stand-in that writes nothing has False)

    def __init__(
        self, path: str | os.PathLike | None, counts: dict[int, int], comments: list[str] | None = None
    ):
        self.path = None if path is None or str(path) == "-" else Path(path)
        self.comments = list(comments or [])
        self.counts = dict(counts)
        self._order = 0
        self._written = 0
        self._f: IO[bytes] | None = None
        self._cm = None

    def __enter__(self) -> ArpaWriter:
        if self.path is None:
            sys.stdout.flush()
            self._f = sys.stdout.buffer
        else:
            self._cm = atomic_write(self.path, "wb")
            self._f = self._cm.__enter__()
        header = (
            [f"# {c}" for c in self.comments]
            + ["\\data\\"]
            + [f"ngram {n}={c}" for n, c in sorted(self.counts.items())]
        )
        self._text("\n".join(header) + "\n\n")
        return self

    def _text(self, s: str) -> None:
        self._f.write(s.encode("utf-8"))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._close_section()
                if self._order != len(self.counts):
                    raise ValueError(
                        f"ArpaWriter: wrote {self._order} sections but the header has {len(self.counts)}"
                    )
                self._text("\\end\\\n")
                self._f.flush()
            except BaseException as e:
                if self._cm is not None:
                    self._cm.__exit__(type(e), e, e.__traceback__)
                raise
        if self._cm is not None:
            self._cm.__exit__(exc_type, exc, tb)

    def _close_section(self) -> None:
        if self._order:
            want = self.counts[self._order]
            if self._written != want:
                raise ValueError(f"ArpaWriter: wrote {self._written} {self._order}-grams, header says {want}")
            self._text("\n")

    def begin_order(self, order: int) -> None:
        """Start the ``\\order-grams:`` section (orders must come 1, 2, ...)."""
        self._close_section()
        if order != self._order + 1:
            raise ValueError(f"ArpaWriter: section {order} after section {self._order}")
        self._order = order
        self._written = 0
        self._text(f"\\{order}-grams:\n")

    def write_lines(self, ngrams: Iterable[str], logprobs: np.ndarray, backoffs: np.ndarray | None) -> None:
        """Write a block of n-gram lines of the current order.

        Args:
            ngrams: n strings, each the n-gram's words joined by single spaces.
            logprobs: float [n] log10 probabilities (clamped to <= 0 as lmplz does).
            backoffs: float [n] log10 back-offs, or ``None`` at the highest order. A back-off of exactly 0 is
                omitted from the line, as lmplz omits it.
        """
        probs = format_floats(np.minimum(np.asarray(logprobs, dtype=np.float32), np.float32(0.0)))
        if backoffs is None:
            text = "".join(f"{p}\t{w}\n" for p, w in zip(probs, ngrams))
            n = len(probs)
        else:
            b32 = np.asarray(backoffs, dtype=np.float32)
            bstr = format_floats(b32)
            nonzero = (b32 != 0).tolist()
            text = "".join(
                f"{p}\t{w}\t{b}\n" if nz else f"{p}\t{w}\n"
                for p, w, b, nz in zip(probs, ngrams, bstr, nonzero)
            )
            n = len(probs)
        self._written += n
        self._text(text)

    def write_raw(self, data: bytes, n: int) -> None:
        """Write ``n`` already formatted lines of the current order (UTF-8 bytes, each ending in a newline)."""
        self._written += n
        self._f.write(data)

    def write_entry(self, entry: ArpaEntry) -> None:
        """Write one :class:`ArpaEntry` (opening its section when the order changes)."""
        if entry.order != self._order:
            self.begin_order(entry.order)
        has_backoff = entry.order < len(self.counts)
        self.write_lines(
            [" ".join(entry.words)],
            np.array([entry.logprob]),
            np.array([entry.backoff]) if has_backoff else None,
        )


def write_arpa(path: str | os.PathLike | None, counts: dict[int, int], entries: Iterable[ArpaEntry]) -> None:
    """Write an ARPA file from a stream of entries (sorted by order), atomically.

    Args:
        path: Output file, or ``None``/``"-"`` for stdout.
        counts: ``{order: n-gram count}``; the stream must hold exactly that many entries per order.
        entries: :class:`ArpaEntry` items, order 1 first.

    Raises:
        ValueError: The entries do not match ``counts`` (nothing is left at ``path`` then).
    """
    with ArpaWriter(path, counts) as w:
        for e in entries:
            w.write_entry(e)
