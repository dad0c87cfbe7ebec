"""Corpus -> counts of the highest-order n-grams, sorted in suffix order (stage 1 of lmplz's pipeline).

Input: text, one sentence per line (files, ``.gz`` files or stdin), split into tokens the way lmplz splits them
(on ``\\0 \\t \\r`` and space only) or, with ``unit="char"``, into CJK characters with Latin words kept whole.
Output: :class:`NgramCounts`: the vocabulary (ids in order of first appearance after ``<unk>``=0, ``<s>``=1,
``</s>``=2, as lmplz numbers them) and every distinct order-N n-gram with its count, where each sentence is
padded with N-1 ``<s>`` on the left and one ``</s>`` on the right, rows sorted in *suffix order* (last word
first, then the one before, ...: lmplz's ``SuffixOrder``).

Reference: kenlm ``lm/builder/corpus_count.cc`` and ``pipeline.cc`` (our own vectorized numpy code). Counting runs
chunk by chunk: each chunk's n-grams are de-duplicated with integer keys (sort/argsort), the sorted runs are kept
in memory up to an eighth of the memory bound and written as they are to ``.npy`` files beyond it, then merged block
by block with plain file reads, so the text itself never has to fit in memory (the distinct n-grams do,
memory-mapped when they were spilled).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from asr.errors import CifstError, InputError
from lm.arpa import open_text

__all__ = [
    "UNK",
    "BOS",
    "EOS",
    "CountConfig",
    "NgramCounts",
    "count_ngrams",
    "split_units",
    "sort_unique_suffix",
    "parse_size",
]

UNK, BOS, EOS = 0, 1, 2
SPECIAL = ("<unk>", "<s>", "</s>")

# str.split() also splits on these, lmplz does not (it splits on \0 \t \n \r and space only).
_EXOTIC_WS = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_KENLM_DELIMS = re.compile("[\x00\t\r ]+")
# CJK ideographs, kana, hangul, CJK punctuation and full-width forms: one token per character with --unit char.
_CJK_CHAR = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3200-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003134f"
)
_CHAR_UNIT = re.compile(f"[{_CJK_CHAR}]|[^{_CJK_CHAR}\\s]+")


@dataclass
class CountConfig:
    """Settings of the counting stage.

    Attributes:
        order: N, the order of the model (>= 1).
        unit: ``"word"`` (split on whitespace like lmplz) or ``"char"`` (each CJK character a token, runs of other
            non-space characters kept whole).
        memory: Memory bound in bytes for counting (lmplz's ``-S``): chunk size and in-memory runs are sized from it.
        temp_prefix: Directory for spilled runs (lmplz's ``-T``); the system temp dir when ``None``.
        skip_symbols: Treat ``<s>``, ``</s>``, ``<unk>`` in the text as whitespace (with one warning) instead of
            failing (lmplz's ``--skip_symbols``).
        progress: Show a tqdm progress bar on stderr.
        resume_dir: Keep spilled runs here with a manifest (``runs.json``, vocabulary, input position) written after
            every spill, and continue from it when it exists: a count interrupted after some spills resumes at the
            input line after the last spill. Text files only (ignored for stdin). ``None``: a private temp dir.
    """

    order: int
    unit: str = "word"
    memory: int = 1 << 30
    temp_prefix: str | None = None
    skip_symbols: bool = False
    progress: bool = True
    resume_dir: str | None = None


@dataclass
class NgramCounts:
    """Distinct order-N n-grams of a corpus with their counts.

    Attributes:
        order: N.
        vocab: Words by id (``vocab[0] == "<unk>"``, ``[1] == "<s>"``, ``[2] == "</s>"``).
        rows: uint32 [M, N] word ids, unique, sorted in suffix order (column N-1 most significant).
        counts: int64 [M] occurrence counts.
        token_count: Number of word tokens read (without ``<s>``/``</s>``), as lmplz reports it.
        sentence_count: Number of lines read.
    """

    order: int
    vocab: list[str]
    rows: np.ndarray
    counts: np.ndarray
    token_count: int = 0
    sentence_count: int = 0
    _tmpdir: str | None = field(default=None, repr=False)

    def close(self) -> None:
        """Drop the arrays and delete the spill directory, if counting used one (the counts are unusable after)."""
        self.rows = self.counts = None  # type: ignore[assignment]
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def parse_size(text: str, default_unit: str = "K") -> int:
    """Parse a GNU-sort style size as lmplz does: ``500M``, ``2G``, ``80%`` (of physical memory), bare number in KiB.

    Args:
        text: The size string.
        default_unit: Unit of a bare number (lmplz: ``K``).

    Returns:
        Bytes.

    Raises:
        CifstError: Unparseable size.
    """
    s = str(text).strip()
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([%bBkKmMgGtTpP]?)", s)
    if not m:
        raise CifstError(f"bad memory size {text!r}: use a number and a unit, e.g. 500M, 2G or 50%")
    value, unit = float(m.group(1)), m.group(2) or default_unit
    if unit == "%":
        try:
            phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            raise CifstError(
                f"cannot determine physical memory for {text!r}: give a size such as 2G"
            ) from None
        return int(phys * value / 100.0)
    power = {"b": 0, "B": 0, "k": 1, "K": 1, "m": 2, "M": 2, "g": 3, "G": 3, "t": 4, "T": 4, "p": 5, "P": 5}[
        unit
    ]
    return int(value * (1024**power))


def split_units(line: str, unit: str = "word") -> list[str]:
    """Split one line into tokens.

    Args:
        line: Text without the trailing newline.
        unit: ``"word"``: split on NUL, tab, CR and space exactly as lmplz (other Unicode spaces stay inside
            tokens); ``"char"``: every CJK character is a token, runs of other non-space characters are tokens.

    Returns:
        The tokens.
    """
    if unit == "char":
        return _CHAR_UNIT.findall(line)
    if _EXOTIC_WS.search(line) or "\x00" in line:
        return [t for t in _KENLM_DELIMS.split(line) if t]
    return line.split()


def _iter_line_blocks(
    sources: Iterable[str | os.PathLike], block_chars: int = 1 << 18, skip: tuple[int, int] = (0, 0)
):
    """Yield (source index, source name, 1-based number of the first line, lines, raw block text, last line ended
    by \\n), starting at line ``skip[1] + 1`` of source ``skip[0]`` (earlier sources are not opened).

    Lines end at ``\n`` only (lmplz's rule; a lone ``\r`` is whitespace inside a line); ``"-"`` is stdin.
    """
    for si, src in enumerate(sources):
        if si < skip[0]:
            continue
        to_skip = skip[1] if si == skip[0] else 0
        for name, line0, lines, raw, terminated in _source_blocks(src, block_chars):
            if to_skip:
                if to_skip >= len(lines):
                    to_skip -= len(lines)
                    continue
                lines, line0 = lines[to_skip:], line0 + to_skip
                raw, to_skip = "\n".join(lines), 0
            yield si, name, line0, lines, raw, terminated


def _source_blocks(src, block_chars: int):
    name = "<stdin>" if str(src) == "-" else str(src)
    f = open_text(src)
    try:
        buf = ""
        line0 = 1
        while True:
            block = f.read(block_chars)
            if not block:
                break
            text = buf + block
            cut = text.rfind("\n")
            if cut < 0:
                buf = text
                continue
            buf = text[cut + 1 :]
            lines = text[:cut].split("\n")
            yield name, line0, lines, text[:cut], True
            line0 += len(lines)
        if buf:
            # lmplz counts the words of a last line without a newline but gives it no </s>
            yield name, line0, [buf], buf, False
    finally:
        if str(src) != "-":
            f.close()


def sort_unique_suffix(
    rows: np.ndarray, counts: np.ndarray | None, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """De-duplicate n-gram rows and sort them in suffix order, summing their counts.

    Words are packed into uint64 keys from the last column backwards; when N words do not fit in 64 bits the rows
    are first ranked by the words that fit and the rank takes their place (repeated until all columns are used).

    Args:
        rows: uint32 [T, N] word ids.
        counts: int64 [T] counts, or ``None`` for 1 each.
        vocab_size: Upper bound (exclusive) on the ids.

    Returns:
        (unique rows uint32 [M, N] in suffix order, counts int64 [M]).
    """
    t, n = rows.shape
    if t == 0:
        return rows.reshape(0, n).astype(np.uint32), np.zeros(0, np.int64)
    bits = max(1, int(vocab_size - 1).bit_length())
    if bits > 32:
        raise CifstError(f"vocabulary of {vocab_size} words is too large (over 2^32)")
    ub = np.uint64(bits)
    if n * bits <= 64:
        # Fast path: the whole row fits in one key; sort the keys in place and decode the rows back from them.
        k = rows[:, n - 1].astype(np.uint64)
        for c in range(n - 2, -1, -1):
            k <<= ub
            k |= rows[:, c]
        if counts is None:
            k.sort()
            sk, sc = k, None
        else:
            order = np.argsort(k)
            sk, sc = k[order], counts[order]
            del order
        del k
        new = np.empty(t, bool)
        new[0] = True
        np.not_equal(sk[1:], sk[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        if sc is None:
            ucounts = np.diff(np.append(starts, t)).astype(np.int64)
        else:
            ucounts = np.add.reduceat(sc.astype(np.int64), starts)
        uk = sk[starts]
        del sk, sc
        urows = np.empty((len(uk), n), np.uint32)
        mask = np.uint64((1 << bits) - 1)
        for c in range(n):
            urows[:, c] = uk & mask
            uk >>= ub
        return urows, ucounts
    j = n
    key: np.ndarray | None = None
    key_bits = 0
    while True:
        take = min(j, (64 - key_bits) // bits)
        if take <= 0:  # pragma: no cover - only for ranks near 2^64
            raise CifstError("too many distinct n-grams to sort")
        k = np.zeros(t, np.uint64) if key is None else key
        for c in range(j - 1, j - 1 - take, -1):
            k <<= ub
            k |= rows[:, c]
        j -= take
        order = np.argsort(k)
        sk = k[order]
        del k
        new = np.empty(t, bool)
        new[0] = True
        np.not_equal(sk[1:], sk[:-1], out=new[1:])
        del sk
        if j == 0:
            starts = np.flatnonzero(new)
            urows = rows[order[starts]]
            if counts is None:
                ucounts = np.diff(np.append(starts, t)).astype(np.int64)
            else:
                ucounts = np.add.reduceat(counts[order].astype(np.int64), starts)
            return np.ascontiguousarray(urows, dtype=np.uint32), ucounts
        key = np.empty(t, np.uint64)
        rank = np.cumsum(new, dtype=np.int64) - 1
        del new
        key[order] = rank.astype(np.uint64)
        key_bits = max(1, int(rank[-1]).bit_length())
        del rank, order


def _windows(ids: np.ndarray, lens: np.ndarray, order: int, has_eos: np.ndarray | None = None) -> np.ndarray:
    """All order-N windows of a chunk of sentences, padded with N-1 <s> and one </s>.

    Args:
        ids: int64 [W] word ids of the chunk's sentences, concatenated.
        lens: int64 [S] words per sentence.
        order: N.
        has_eos: bool [S], False for a sentence that gets no </s> (lmplz: an unterminated last line); all True
            when ``None``.

    Returns:
        uint32 [W + #</s>, N] one row per token (each word and each </s>), the row ending at that token.
    """
    s = len(lens)
    eos = np.ones(s, np.int64) if has_eos is None else has_eos.astype(np.int64)
    plen = lens + order - 1 + eos  # N-1 <s>, the words, </s>
    total = int(plen.sum())
    seq = np.full(total, BOS, np.uint32)
    sent_start = np.cumsum(plen) - plen
    # word positions: sentence start + (N-1) + index within the sentence
    if len(ids):
        sent_of_word = np.repeat(np.arange(s), lens)
        within = np.arange(len(ids)) - np.repeat(np.cumsum(lens) - lens, lens)
        seq[sent_start[sent_of_word] + (order - 1) + within] = ids
    eos_pos = (sent_start + plen - 1)[eos.astype(bool)]
    seq[eos_pos] = EOS
    ends = np.flatnonzero(seq != BOS)
    win = np.lib.stride_tricks.sliding_window_view(seq, order)
    return np.ascontiguousarray(win[ends - (order - 1)])


class _Runs:
    """Sorted runs of (rows, counts), kept in memory up to a byte budget and spilled to .npy files beyond it."""

    def __init__(self, order: int, budget: int, temp_prefix: str | None, fixed_dir: str | None = None):
        self.order = order
        self.budget = budget
        self.temp_prefix = temp_prefix
        self.mem: list[tuple[np.ndarray, np.ndarray]] = []
        self.mem_bytes = 0
        self.files: list[tuple[Path, Path]] = []
        self.tmpdir: str | None = fixed_dir
        self.on_spill = None  # called after each spill (the resume manifest)
        if fixed_dir:
            Path(fixed_dir).mkdir(parents=True, exist_ok=True)

    def add(self, rows: np.ndarray, counts: np.ndarray, vocab_size: int) -> None:
        self.mem.append((rows, counts))
        self.mem_bytes += rows.nbytes + counts.nbytes
        if self.mem_bytes > self.budget:
            self._spill(vocab_size)

    def _spill(self, vocab_size: int) -> None:
        """Write every in-memory run to its own file (each is already sorted and unique: no sort needed here)."""
        if self.tmpdir is None:
            base = self.temp_prefix or None
            if base:
                Path(base).mkdir(parents=True, exist_ok=True)
            self.tmpdir = tempfile.mkdtemp(prefix="cifst-lm-", dir=base)
        for rows, counts in self.mem:
            i = len(self.files)
            rp, cp = Path(self.tmpdir) / f"run{i}.rows.npy", Path(self.tmpdir) / f"run{i}.counts.npy"
            np.save(rp, rows)
            np.save(cp, counts)
            self.files.append((rp, cp))
        self.mem, self.mem_bytes = [], 0
        if self.on_spill is not None:
            self.on_spill()

    def _combine_mem(self, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.mem) == 1:
            rows, counts = self.mem[0]
            self.mem, self.mem_bytes = [], 0
            return rows, counts
        all_rows = np.concatenate([r for r, _ in self.mem])
        all_counts = np.concatenate([c for _, c in self.mem])
        self.mem, self.mem_bytes = [], 0  # free the runs before sorting their concatenation
        return sort_unique_suffix(all_rows, all_counts, vocab_size)

    def finish(self, vocab_size: int) -> tuple[np.ndarray, np.ndarray, str | None]:
        if not self.files:
            if not self.mem:
                return np.zeros((0, self.order), np.uint32), np.zeros(0, np.int64), None
            rows, counts = self._combine_mem(vocab_size)
            return rows, counts, None
        if self.mem:
            self._spill(vocab_size)
        rows, counts = _merge_run_files(self.files, self.order, vocab_size, Path(self.tmpdir), self.budget)
        return rows, counts, self.tmpdir


def _suffix_le(block: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """bool [r]: block rows <= pivot row in suffix order (block sorted, so the result is a prefix of True)."""
    lt = np.zeros(len(block), bool)
    eq = np.ones(len(block), bool)
    for c in range(block.shape[1] - 1, -1, -1):
        col = block[:, c]
        lt |= eq & (col < pivot[c])
        eq &= col == pivot[c]
    return lt | eq


class _RunReader:
    """Reads slices of a ``.npy`` run with plain file reads (no mmap, so its pages never count as our memory)."""

    def __init__(self, path: Path):
        self.f = open(path, "rb")
        version = np.lib.format.read_magic(self.f)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(self.f)
        self.offset = self.f.tell()
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * (shape[1] if len(shape) > 1 else 1)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        self.f.seek(self.offset + start * self.row_bytes)
        data = np.fromfile(self.f, self.dtype, count=(stop - start) * (self.row_bytes // self.dtype.itemsize))
        return data.reshape((stop - start,) + tuple(self.shape[1:]))

    def close(self) -> None:
        self.f.close()


def _merge_run_files(
    files: list[tuple[Path, Path]], order: int, vocab_size: int, tmpdir: Path, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """k-way merge of sorted run files block by block into one sorted unique table (memory-mapped, read-only)."""
    runs = [(_RunReader(r), _RunReader(c)) for r, c in files]
    block = max(1024, budget // (len(runs) * (order * 4 + 8) * 4))
    pos = [0] * len(runs)
    cache: list[np.ndarray | None] = [None] * len(runs)  # current block of rows of each run, from pos[i]
    written = 0
    rows_path, counts_path = tmpdir / "merged.rows.u32", tmpdir / "merged.counts.i64"
    with open(rows_path, "wb") as out_r, open(counts_path, "wb") as out_c:
        while True:
            live = [i for i, (_, c) in enumerate(runs) if pos[i] < len(c)]
            if not live:
                break
            for i in live:
                if cache[i] is None or len(cache[i]) == 0:
                    cache[i] = runs[i][0].read(pos[i], min(pos[i] + block, len(runs[i][0])))
            # The smallest last row among the blocks that do not reach their run's end bounds what is safe to emit.
            pivot = None
            for i in live:
                if pos[i] + len(cache[i]) < len(runs[i][0]):
                    last = cache[i][-1]
                    if pivot is None or _suffix_le(last[None, :], pivot)[0]:
                        pivot = last
            parts_r, parts_c = [], []
            for i in live:
                r = cache[i]
                n_take = len(r) if pivot is None else int(_suffix_le(r, pivot).sum())
                parts_r.append(r[:n_take])
                parts_c.append(runs[i][1].read(pos[i], pos[i] + n_take))
                cache[i] = r[n_take:]
                pos[i] += n_take
            rows, counts = sort_unique_suffix(np.concatenate(parts_r), np.concatenate(parts_c), vocab_size)
            out_r.write(np.ascontiguousarray(rows, np.uint32).tobytes())
            out_c.write(np.ascontiguousarray(counts, np.int64).tobytes())
            written += len(rows)
    for (r, c), (rp, cp) in zip(runs, files):
        r.close()
        c.close()
        rp.unlink(missing_ok=True)
        cp.unlink(missing_ok=True)
    if written == 0:
        return np.zeros((0, order), np.uint32), np.zeros(0, np.int64)
    return (
        np.memmap(rows_path, np.uint32, "r", shape=(written, order)),
        np.memmap(counts_path, np.int64, "r", shape=(written,)),
    )


def _progress(config: CountConfig, sources: list[str]):
    if not config.progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    total = 0
    for s in sources:
        if str(s) == "-" or str(s).endswith(".gz"):
            total = None
            break
        try:
            total += os.path.getsize(s)
        except OSError:
            total = None
            break
    return tqdm(total=total, unit="B", unit_scale=True, desc="counting n-grams", file=sys.stderr, leave=False)


def _save_manifest(d: Path, order, vocab, files, position, token_count, sentence_count) -> None:
    """After a spill: the vocabulary so far, then ``runs.json`` (atomically, last) naming the finished runs."""
    from asr.data.atomic import atomic_write

    with atomic_write(d / "vocab.partial.txt", "w") as f:
        f.write("\n".join(vocab))
    meta = {
        "order": order,
        "vocab_size": len(vocab),
        "files": [[p.name, q.name] for p, q in files],
        "position": list(position),
        "token_count": token_count,
        "sentence_count": sentence_count,
    }
    with atomic_write(d / "runs.json", "w") as f:
        json.dump(meta, f)


def _load_manifest(d: Path, order: int) -> dict | None:
    """The state saved by :func:`_save_manifest`, or ``None`` when there is none (or it does not fit)."""
    try:
        meta = json.loads((d / "runs.json").read_text())
        if meta["order"] != order:
            return None
        vocab = (d / "vocab.partial.txt").read_text(encoding="utf-8").split("\n")[: meta["vocab_size"]]
        files = [(d / a, d / b) for a, b in meta["files"]]
    except (OSError, ValueError, KeyError):
        return None
    if len(vocab) != meta["vocab_size"] or not all(p.exists() and q.exists() for p, q in files):
        return None
    meta.update(vocab=vocab, files=files)
    return meta


def count_ngrams(sources: Iterable[str | os.PathLike], config: CountConfig) -> NgramCounts:
    """Count the order-N n-grams of a corpus (lmplz stage 1).

    Args:
        sources: Text files (plain or ``.gz``); ``"-"`` reads stdin.
        config: Order, unit, memory bound, temp dir, special-symbol handling.

    Returns:
        :class:`NgramCounts` with rows in suffix order; call ``close()`` when done if it was spilled to disk.

    Raises:
        InputError: ``<s>``, ``</s>`` or ``<unk>`` in the text without ``skip_symbols`` (names file and line).
    """
    order = config.order
    if order < 1:
        raise CifstError(f"order must be >= 1, got {order}")
    sources = list(sources) or ["-"]
    vocab: dict[str, int] = {w: i for i, w in enumerate(SPECIAL)}
    # bytes per token in a chunk: the window row, the padded sequence and argsort temporaries
    # Peak bytes per token while a chunk is de-duplicated (id list, window rows, sort keys and permutations), and
    # per distinct n-gram kept in a run; the final in-memory merge needs about three times the runs' size.
    per_token = order * 8 + 140
    chunk_tokens = max(10_000, config.memory // (4 * per_token))
    resume_dir = config.resume_dir if config.resume_dir and "-" not in map(str, sources) else None
    runs = _Runs(order, config.memory // 8, config.temp_prefix, resume_dir)
    position = (0, 0)  # (source index, lines of it consumed) after the last block read
    bar = _progress(config, [str(s) for s in sources])
    ids: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    eos_flags: list[np.ndarray] = []
    line_where: list[tuple[str, int, int]] = []  # (file, first line, lines) of each block, for error messages
    token_count = sentence_count = 0
    warned = False
    unit = config.unit

    def flush() -> None:
        nonlocal warned, token_count
        if not lens:
            return
        arr = np.concatenate(ids)
        lens_arr = np.concatenate(lens)
        eos_arr = np.concatenate(eos_flags)
        bad = arr <= EOS
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            sent = int(np.searchsorted(np.cumsum(lens_arr), first, side="right"))
            name, line0 = line_where[-1][0], line_where[-1][1]
            for block_name, block_line0, n_lines in line_where:  # sentence index -> file and line
                if sent < n_lines:
                    name, line0 = block_name, block_line0
                    break
                sent -= n_lines
            word = SPECIAL[int(arr[first])]
            if not config.skip_symbols:
                raise InputError(
                    name,
                    line0 + sent,
                    f"the special word {word} appears in the text; lmplz reserves <s>, </s> and <unk>. "
                    "Remove it, or pass --skip_symbols to treat these words as whitespace",
                )
            if not warned:
                print(
                    f"warning: {name}:{line0 + sent}: {word} appears in the input; all <s>, </s> and <unk> are "
                    "treated as whitespace (--skip_symbols)",
                    file=sys.stderr,
                )
                warned = True
            sent_of = np.repeat(np.arange(len(lens_arr)), lens_arr)
            lens_arr = lens_arr - np.bincount(sent_of[bad], minlength=len(lens_arr))
            arr = arr[~bad]
        token_count += len(arr)
        win = _windows(arr, lens_arr, order, eos_arr)
        rows, counts = sort_unique_suffix(win, None, len(vocab))
        runs.add(rows, counts, len(vocab))
        ids.clear()
        lens.clear()
        eos_flags.clear()
        line_where.clear()

    if resume_dir:
        state = _load_manifest(Path(resume_dir), order)
        if state is not None:
            vocab = {w: i for i, w in enumerate(state["vocab"])}
            runs.files = state["files"]
            token_count, sentence_count = state["token_count"], state["sentence_count"]
            position = tuple(state["position"])
            print(
                f"resuming the count from {resume_dir}: {len(runs.files)} runs, {sentence_count} lines done",
                file=sys.stderr,
            )

        def save_manifest() -> None:
            _save_manifest(Path(resume_dir), order, vocab, runs.files, position, token_count, sentence_count)

        runs.on_spill = save_manifest

    setdefault = vocab.setdefault
    get = vocab.get
    n_pending = 0
    for si, name, line0, lines, raw, terminated in _iter_line_blocks(sources, skip=position):
        position = (si, line0 - 1 + len(lines))
        if unit == "char":
            toks_per_line = list(map(_CHAR_UNIT.findall, lines))
        elif _EXOTIC_WS.search(raw) or "\x00" in raw:
            toks_per_line = [split_units(line, unit) for line in lines]
        else:
            toks_per_line = list(map(str.split, lines))
        words = list(chain.from_iterable(toks_per_line))
        arr = np.fromiter(map(get, words, repeat(-1)), np.int64, len(words))
        unknown = np.flatnonzero(arr < 0).tolist()
        if unknown:
            new_words = [words[i] for i in unknown]
            for w in dict.fromkeys(new_words):  # new words get ids in order of first appearance
                setdefault(w, len(vocab))
            arr[unknown] = np.fromiter(map(get, new_words), np.int64, len(new_words))
        ids.append(arr)
        lens.append(np.fromiter(map(len, toks_per_line), np.int64, len(toks_per_line)))
        line_where.append((name, line0, len(lines)))
        flags = np.ones(len(lines), bool)
        flags[-1] = terminated
        eos_flags.append(flags)
        sentence_count += len(lines)
        n_pending += len(words) + len(lines)
        if bar is not None:
            bar.update(len(raw) + 1)
        if n_pending >= chunk_tokens:
            flush()
            n_pending = 0
    flush()
    if bar is not None:
        bar.close()
    rows, counts, tmpdir = runs.finish(len(vocab))
    return NgramCounts(
        order=order,
        vocab=list(vocab),
        rows=rows,
        counts=counts,
        token_count=token_count,
        sentence_count=sentence_count,
        _tmpdir=tmpdir,
    )
