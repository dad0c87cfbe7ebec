"""Order-N counts -> ARPA through disk, one order at a time: lmplz's modified Kneser-Ney in bounded memory.

Input: :class:`lm.counts.NgramCounts` (distinct order-N n-grams in suffix order with counts; usually a file on
disk), pruning thresholds, a limit-vocabulary mask and discount settings. Output: the ARPA file, byte-identical to
``write_model_arpa(modified_kneser_ney(build_tables(...)))`` (the in-memory path of :mod:`lm.adjust` and
:mod:`lm.interpolate`, which this module is tested against), with at most about 36 bytes per n-gram of *one* order
resident at a time instead of every order's tables.

Reference: the staged, disk-backed design of kenlm ``lm/builder/pipeline.cc`` (adjust counts, then initial
probabilities and interpolation order by order, then print); our own numpy/numba code, not a port.

1. Adjust (one pass over the order-N table in blocks that end where the last two words change, so no n-gram of
   order >= 2 spans two blocks): per order k >= 2 the valid k-grams in suffix order are appended to flat files
   ``first`` (int32), ``suffix`` (index in order k-1), ``adjusted`` counts, ``pruned`` (uint8) and ``start`` (the
   row of the order-N table where the k-gram's group starts: its words are that row's last k ids). Unigram raw and
   continuation counts are accumulated with ``bincount`` over word ids. Count-of-counts as in :mod:`lm.adjust`
   (with lmplz's quirk for the last n-gram it flushes).
2. Discounts: :func:`lm.discount.kneser_ney_discounts`.
3. For n = 2..N: pass 1 streams order n, finds each n-gram's context (words 1..n-1) in order n-1 with a binary
   search on order n-1's ``suffix * V + first`` keys, writes it to disk and scatters the per-context sums
   (denominator, N1, N2, N3+, pruned mass) into arrays over order n-1; gamma of order n-1 follows, order n-1 is
   written to the ARPA (it is complete now), and pass 2 streams order n again for
   ``p = (a - D(a)) / denominator + gamma * p(suffix)`` (float32, kenlm's operation order). Order N is written last.
   Words for the ARPA come from the order-N table rows at each n-gram's ``start``.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from lm.adjust import _change_flags
from lm.arpa import ArpaWriter
from lm.arpa_lines import encode_lines
from lm.counts import BOS, EOS, UNK, NgramCounts
from lm.discount import Discount
from lm.interpolate import _gamma32, _uninterp32, unigram_probs
from lm.renumber import renumbered_order

__all__ = ["StreamingResult", "adjust_to_disk", "write_mkn_arpa_streaming"]


class _TableReader:
    """Blocks of the order-N table (rows uint32 [M, N], counts int64 [M]) by plain file reads when it is a
    memory map (so pages read never stay in this process's RSS), by slicing otherwise."""

    def __init__(self, counts: NgramCounts):
        self.rows, self.counts = counts.rows, counts.counts
        self.m = len(self.counts)
        self.n = counts.order
        self._files = None
        self._map = None
        if isinstance(self.rows, np.memmap) and isinstance(self.counts, np.memmap):
            self._files = (open(self.rows.filename, "rb"), open(self.counts.filename, "rb"))
            self._offsets = (self.rows.offset, self.counts.offset)

    def read(self, s: int, e: int, with_counts: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows [s, e) as uint32 [e-s, N] and their int64 counts (``None`` when not asked for)."""
        if self._files is None:
            return np.asarray(self.rows[s:e]), (np.asarray(self.counts[s:e]) if with_counts else None)
        fr, fc = self._files
        fr.seek(self._offsets[0] + s * self.n * 4)
        rows = np.fromfile(fr, np.uint32, count=(e - s) * self.n).reshape(e - s, self.n)
        cnt = None
        if with_counts:
            fc.seek(self._offsets[1] + s * 8)
            cnt = np.fromfile(fc, np.int64, count=e - s)
        return rows, cnt

    def gather(self, starts: np.ndarray, k: int) -> np.ndarray:
        """int64 [r, k]: the last k words of the rows at ``starts`` (any order). A memory-mapped table is read
        through a private map whose pages are dropped again after each call (they never accumulate in RSS)."""
        if self._files is None:
            return np.asarray(self.rows[starts, self.n - k :], np.int64)
        if self._map is None:
            self._map = mmap.mmap(self._files[0].fileno(), 0, access=mmap.ACCESS_READ)
        view = np.frombuffer(self._map, np.uint32, count=self.m * self.n, offset=self._offsets[0])
        out = view.reshape(self.m, self.n)[starts, self.n - k :].astype(np.int64)
        del view
        if hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED)
        return out

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view is still alive somewhere; the map goes with it
                pass
            self._map = None
        if self._files is not None:
            for f in self._files:
                f.close()
            self._files = None


class _Column:
    """A flat binary array on disk, appended block by block and read back whole or in slices."""

    def __init__(self, path: Path, dtype):
        self.path, self.dtype = path, np.dtype(dtype)
        self.length = 0
        self._f = open(path, "wb")

    def append(self, values: np.ndarray) -> None:
        self._f.write(np.ascontiguousarray(values, self.dtype).tobytes())
        self.length += len(values)

    def finish(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def load(self) -> np.ndarray:
        """The whole array in memory."""
        return np.fromfile(self.path, self.dtype, count=self.length)

    def read(self, s: int, e: int) -> np.ndarray:
        with open(self.path, "rb") as f:
            f.seek(s * self.dtype.itemsize)
            return np.fromfile(f, self.dtype, count=e - s)


@dataclass
class _OrderFiles:
    """Order k >= 2 on disk: first, suffix, adjusted, pruned, start (all length m, suffix order)."""

    first: _Column
    suffix: _Column
    adjusted: _Column
    pruned: _Column
    start: _Column
    num_pruned: int = 0

    def __len__(self) -> int:
        return self.first.length

    def finish(self) -> None:
        for c in (self.first, self.suffix, self.adjusted, self.pruned, self.start):
            c.finish()


@dataclass
class StreamingResult:
    """What the adjust stage leaves: unigram arrays in memory, higher orders on disk, statistics.

    Attributes:
        vocab_size: V.
        uni_adjusted: int64 [V] adjusted unigram counts.
        uni_pruned: bool [V].
        orders: ``orders[k-2]`` holds order k >= 2 on disk.
        count_of_counts: int64 [N, 5] as :func:`lm.adjust.build_tables` computes them.
        kept: number of un-pruned n-grams per order (the ARPA header).
        total: number of n-grams per order, pruned included.
    """

    vocab_size: int
    uni_adjusted: np.ndarray
    uni_pruned: np.ndarray
    orders: list[_OrderFiles]
    count_of_counts: np.ndarray
    kept: list[int]
    total: list[int]


def _aligned_blocks(reader: _TableReader, block_rows: int):
    """Yield (global row offset, rows, counts) in blocks that end where the last two words change."""
    m, n = reader.m, reader.n
    s = 0
    size = block_rows
    while s < m:
        e = min(m, s + size)
        rows, cnt = reader.read(s, e)
        if e < m:
            d = rows[1:, n - 1] != rows[:-1, n - 1]
            if n >= 2:
                d |= rows[1:, n - 2] != rows[:-1, n - 2]
            nz = np.flatnonzero(d)
            if len(nz) == 0:  # one two-word suffix fills the block: read a larger one
                size *= 2
                continue
            cut = int(nz[-1]) + 1
            rows, cnt = rows[:cut], cnt[:cut]
            e = s + cut
        yield s, rows, cnt
        s = e
        size = block_rows


def adjust_to_disk(
    counts: NgramCounts,
    workdir: Path,
    prune_thresholds: list[int] | None = None,
    allowed_words: np.ndarray | None = None,
    block_rows: int = 1 << 20,
    progress=None,
) -> StreamingResult:
    """Adjusted counts of every order, streamed from the order-N table to per-order files (order >= 2).

    Same values as :func:`lm.adjust.build_tables` (which documents the rules); N must be >= 2.

    Args:
        counts: Distinct order-N n-grams in suffix order with counts.
        workdir: Directory for the per-order files.
        prune_thresholds: N non-decreasing count thresholds, or ``None``.
        allowed_words: bool [V] limit vocabulary, or ``None``.
        block_rows: Rows of the order-N table per block (a block grows when one two-word suffix is larger).
        progress: Optional tqdm-like object, updated with rows done.

    Returns:
        :class:`StreamingResult`.
    """
    n_ord = counts.order
    vsize = len(counts.vocab)
    thr = list(prune_thresholds) if prune_thresholds else [0] * n_ord
    reader = _TableReader(counts)
    m = reader.m
    big_counts = counts.token_count + counts.sentence_count >= 2**31 - 1
    cnt_t = np.int64 if big_counts else np.int32
    idx_t = np.int32 if m < 2**31 else np.int64
    bad_word = None if allowed_words is None else ~np.asarray(allowed_words, bool)
    if bad_word is not None:
        bad_word = bad_word.copy()
        bad_word[[UNK, BOS, EOS]] = False
    orders = [
        _OrderFiles(
            _Column(workdir / f"{k}.first", np.int32),
            _Column(workdir / f"{k}.suffix", idx_t),
            _Column(workdir / f"{k}.adjusted", cnt_t),
            _Column(workdir / f"{k}.pruned", np.uint8),
            _Column(workdir / f"{k}.start", np.int64),
        )
        for k in range(2, n_ord + 1)
    ]
    coc = np.zeros((n_ord, 5), np.int64)
    uni_raw = np.zeros(vsize, np.float64)
    uni_ext = np.zeros(vsize, np.int64)
    last_entry: list[tuple[int, int] | None] = [None] * (n_ord + 1)  # (adjusted, raw) of the last k-gram
    last_row = None
    try:
        for s0, rows, cnt in _aligned_blocks(reader, block_rows):
            mb = len(rows)
            last_row = rows[-1].copy()
            flags = _change_flags(rows)
            uni_raw += np.bincount(rows[:, n_ord - 1], weights=cnt, minlength=vsize)
            starts2 = np.flatnonzero(flags[2])
            uni_ext += np.bincount(rows[starts2, n_ord - 1], minlength=vsize)
            del starts2
            base = [of.first.length for of in orders]  # entries of each order before this block
            row_to_local = None  # order k-1: block row -> index among the block's valid (k-1)-grams
            prev_bad = None
            for k in range(2, n_ord + 1):
                of = orders[k - 2]
                starts = np.flatnonzero(flags[k])
                valid = rows[starts, n_ord - k + 1] != BOS
                raw = np.add.reduceat(cnt, starts).astype(cnt_t)
                if k == n_ord:
                    adjusted = raw
                else:
                    ext = np.add.reduceat(flags[k + 1], starts, dtype=np.int64).astype(cnt_t)
                    adjusted = np.where(rows[starts, n_ord - k] == BOS, raw, ext)
                    del ext
                starts = starts[valid]
                raw, adjusted = raw[valid], adjusted[valid]
                first = rows[starts, n_ord - k].astype(np.int32)
                if k == 2:
                    suffix = rows[starts, n_ord - 1].astype(idx_t)
                else:
                    local = row_to_local[starts]
                    suffix = (local + base[k - 3]).astype(idx_t)
                mark = np.zeros(mb, bool)
                mark[starts] = True
                row_to_local = np.cumsum(mark, dtype=np.int64) - 1
                del mark
                pruned = raw <= thr[k - 1]
                if bad_word is not None:
                    contains_bad = bad_word[first]
                    if k == 2:
                        contains_bad |= bad_word[suffix]
                    else:
                        contains_bad |= prev_bad[local]
                    prev_bad = contains_bad
                    pruned |= contains_bad
                small = adjusted[adjusted < 5]
                coc[k - 1] += np.bincount(small, minlength=5)[:5]
                if len(starts):
                    last_entry[k] = (int(adjusted[-1]), int(raw[-1]))
                of.num_pruned += int(pruned.sum())
                of.first.append(first)
                of.suffix.append(suffix)
                of.adjusted.append(adjusted)
                of.pruned.append(pruned)
                of.start.append(starts.astype(np.int64) + s0)
            if progress is not None:
                progress.update(mb)
    finally:
        reader.close()
        for of in orders:
            of.finish()

    # Unigrams: every id 2..V-1 ends some row; <unk> and <s> have count 0.
    uni_adj = uni_ext.copy()  # adjusted = continuation count (raw only for <s>, which is 0 anyway)
    uni_raw_i = np.rint(uni_raw).astype(np.int64)
    pruned1 = uni_raw_i <= thr[0]
    if bad_word is not None:
        pruned1 |= bad_word
    pruned1[[UNK, BOS]] = False
    stat = uni_adj.copy()

    # lmplz's quirk: the n-grams it flushes last (suffixes of the last row) count with their raw count.
    last_flush_orders = 0
    if last_row is not None and n_ord > 1:
        lead = 0
        while lead < n_ord and last_row[lead] == BOS:
            lead += 1
        last_flush_orders = n_ord - 1 if lead == 0 else min(n_ord - 1, n_ord - lead + 1)
    if last_flush_orders >= 1 and vsize:
        stat[-1] = uni_raw_i[-1]
    coc[0] = np.bincount(stat[stat < 5], minlength=5)[:5]
    for k in range(2, last_flush_orders + 1):
        if last_entry[k] is not None:
            adj, raw = last_entry[k]
            if adj < 5:
                coc[k - 1, adj] -= 1
            if raw < 5:
                coc[k - 1, raw] += 1
    kept = [int((~pruned1).sum())] + [len(of) - of.num_pruned for of in orders]
    total = [vsize] + [len(of) for of in orders]
    return StreamingResult(vsize, uni_adj, pruned1, orders, coc, kept, total)


@numba.njit(cache=True, nogil=True)
def _context_sums(ctx, adj, pruned, denom, n1, n2, n3, pmass):  # pragma: no cover - compiled
    for i in range(len(ctx)):
        c = ctx[i]
        a = adj[i]
        denom[c] += a
        if pruned[i]:
            pmass[c] += a
        elif a == 1:
            n1[c] += 1
        elif a == 2:
            n2[c] += 1
        elif a >= 3:
            n3[c] += 1


class _NoArpa:
    """Stands in for :class:`lm.arpa.ArpaWriter` when only intermediate files are written."""

    enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def begin_order(self, k: int) -> None:
        return None


class _SectionWriter:
    """Writes one order's kept n-grams as ARPA lines, words looked up in the order-N table at each ``start``.

    With ``new_id`` (``--renumber``) each section is listed in suffix order of the new word ids instead.
    """

    def __init__(
        self,
        writer: ArpaWriter,
        reader: _TableReader,
        vocab: list[str],
        top: int,
        progress=None,
        new_id: np.ndarray | None = None,
        sink=None,
    ):
        words = [w.encode("utf-8") for w in vocab]
        self.vlen = np.array([len(w) for w in words], np.int64)
        self.voff = np.cumsum(self.vlen) - self.vlen
        self.vbuf = np.frombuffer(b"".join(words), np.uint8) if words else np.zeros(0, np.uint8)
        self.w, self.reader, self.top, self.progress = writer, reader, top, progress
        self.new_id = new_id
        self.sink = sink  # lm.intermediate.IntermediateWriter or None
        self.new_pos: np.ndarray | None = (
            None  # renumbering: position of each n-gram of the last order written
        )

    def _blocks(self, k: int, m: int, of: _OrderFiles | None, pruned1: np.ndarray | None, block: int):
        """Yield (kept entry indices int64 [r], their words int64 [r, k]) in output order."""
        if self.new_id is None:
            for s in range(0, m, block):
                e = min(m, s + block)
                if k == 1:
                    idx = np.arange(s, e)[~pruned1[s:e]]
                    yield idx, idx[:, None]
                    continue
                keep = of.pruned.read(s, e) == 0
                idx = np.arange(s, e)[keep]
                st = of.start.read(s, e)[keep]
                if len(st) == 0:
                    continue
                rows, _ = self.reader.read(int(st[0]), int(st[-1]) + 1, with_counts=False)
                yield idx, rows[st - st[0], self.reader.n - k :].astype(np.int64)
            return
        if k == 1:
            perm, self.new_pos = np.argsort(self.new_id), self.new_id
            for s in range(0, m, block):
                idx = perm[s : s + block]
                idx = idx[~pruned1[idx]]
                yield idx, idx[:, None]
            return
        perm, self.new_pos = renumbered_order(self.new_pos, of.first.load(), of.suffix.load(), self.new_id)
        pruned, start = of.pruned.load(), of.start.load()
        for s in range(0, m, block):
            idx = perm[s : s + block]
            idx = idx[pruned[idx] == 0]
            yield idx, self.reader.gather(start[idx], k)

    def write(
        self,
        k: int,
        prob: np.ndarray,
        gamma: np.ndarray | None,
        of: _OrderFiles | None,
        pruned1: np.ndarray | None = None,
        q_partial: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Write section k.

        Args:
            k: The order.
            prob: float32 [m_k] interpolated probabilities.
            gamma: float32 [m_k] back-off of each k-gram as a context (1.0 when none), ``None`` at the top order.
            of: Order k's files (``None`` for k = 1).
            pruned1: bool [V] pruned unigrams (k = 1).
            q_partial: With ``--collapse_values``: float32 [m_k] q-delta of the suffix divided by the context's
                gamma (k >= 2; ones for k = 1). ``None`` writes probabilities and back-offs.

        Returns:
            With ``q_partial``: float32 [m_k] q-delta of each k-gram (``q_partial * gamma``), else ``None``.
        """
        self.w.begin_order(k)
        if self.sink is not None:
            self.sink.begin_order(k)
        q_delta = None
        if (
            q_partial is not None
        ):  # kenlm interpolate.cc OutputQ: q = p * (q_delta(suffix) / gamma(context) * b)
            q_delta = q_partial if gamma is None else q_partial * gamma
        for idx, cols in self._blocks(k, len(prob), of, pruned1, 200_000):
            with np.errstate(divide="ignore"):
                if q_delta is not None:
                    lp = np.log10((prob[idx] * q_delta[idx]).astype(np.float64)).astype(np.float32)
                    back = None if gamma is None else np.zeros(len(lp), np.float32)
                else:
                    lp = np.log10(prob[idx].astype(np.float64)).astype(np.float32)
                    lp = np.minimum(lp, np.float32(0))
                    back = None
                    if gamma is not None:
                        back = np.log10(gamma[idx].astype(np.float64)).astype(np.float32)
                        last = cols[:, -1]
                        back[(last == EOS) | (last == UNK)] = 0.0  # lmplz: no back-off after </s> or <unk>
            if self.w.enabled:
                self.w.write_raw(encode_lines(cols, self.vbuf, self.voff, self.vlen, lp, back), len(lp))
            if self.sink is not None:
                self.sink.add(cols, lp, back)
            if self.progress is not None:
                self.progress.update(len(lp))
        return q_delta


def _gammas(denom, n1, n2, n3, pmass, d: Discount, has_pruned: bool) -> np.ndarray:
    """float32 gamma per context (1.0 where the entry is no context), computed in slices."""
    m = len(denom)
    out = np.empty(m, np.float32)
    step = 1 << 20
    for s in range(0, m, step):
        e = min(m, s + step)
        pm = pmass[s:e] if has_pruned else np.zeros(e - s, np.int64)
        g = _gamma32(d, n1[s:e], n2[s:e], n3[s:e], pm, denom[s:e])
        out[s:e] = np.where(denom[s:e] > 0, g, np.float32(1.0))
    return out


def write_mkn_arpa_streaming(
    counts: NgramCounts,
    out: str | os.PathLike | None,
    discounts_fn,
    prune_thresholds: list[int] | None = None,
    allowed_words: np.ndarray | None = None,
    interpolate_unigrams: bool = True,
    vocab_pad: int = 0,
    collapse_values: bool = False,
    renumber: bool = False,
    intermediate: str | None = None,
    write_arpa: bool = True,
    comments: list[str] | None = None,
    temp_prefix: str | None = None,
    block_rows: int = 1 << 20,
    progress: bool = False,
    log=None,
) -> dict[int, int]:
    """Modified Kneser-Ney from order-N counts to an ARPA file, streaming every order through disk.

    Args:
        counts: Distinct order-N n-grams (N >= 2) in suffix order.
        out: ARPA path (written atomically) or ``None``/``"-"`` for stdout.
        discounts_fn: Callable ``count_of_counts int64 [N, 5] -> list[Discount]`` (raises when unusable).
        prune_thresholds: N count thresholds or ``None``.
        allowed_words: bool [V] limit vocabulary or ``None``.
        interpolate_unigrams: lmplz ``--interpolate_unigrams``.
        vocab_pad: lmplz ``--vocab_pad`` (uniform over at least this many words).
        collapse_values: lmplz ``--collapse_values``: write q (probability and back-offs folded together, Heafield
            et al. 2012) in the probability column and 0 back-offs.
        renumber: lmplz ``--renumber``: list every section in suffix order of word ids that follow each word's
            MurmurHash64A (:mod:`lm.renumber`); costs one sort of each order in memory.
        intermediate: lmplz ``--intermediate``: also write kenlm intermediate files with this prefix
            (:mod:`lm.intermediate`); implies ``renumber``.
        write_arpa: Write the ARPA (``False``: intermediate files only, lmplz's default with ``--intermediate``).
        comments: ``# ...`` header lines.
        temp_prefix: Directory for the per-order files (system temp dir when ``None``).
        block_rows: Rows per block of the adjust pass; entries per block of the later passes.
        progress: tqdm bars on stderr.
        log: Callable for the statistics lines, or ``None``.

    Returns:
        ``{order: n-grams written}``.
    """
    n_ord = counts.order
    if n_ord < 2:
        raise ValueError("write_mkn_arpa_streaming needs order >= 2")
    base = temp_prefix or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cifst-lm-mkn-", dir=base))
    bars = []

    def bar(total, desc, unit):
        if not progress:
            return None
        from tqdm import tqdm

        b = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        bars.append(b)
        return b

    try:
        res = adjust_to_disk(
            counts,
            workdir,
            prune_thresholds,
            allowed_words,
            block_rows,
            bar(len(counts.counts), "adjust", "row"),
        )
        discounts = discounts_fn(res.count_of_counts)
        if log is not None:
            lines = ["Statistics:"]
            for n, (kept, tot, d) in enumerate(zip(res.kept, res.total, discounts), 1):
                size = f"{kept}" if kept == tot else f"{kept}/{tot}"
                lines.append(f"{n} {size} D1={d.d1:.7g} D2={d.d2:.7g} D3+={d.d3:.7g}")
            log("\n".join(lines))
        header = {n: c for n, c in enumerate(res.kept, 1)}
        reader = _TableReader(counts)
        sink = None
        try:
            new_id = None
            if renumber or intermediate:
                from lm.renumber import renumbered_ids

                new_id = renumbered_ids(counts.vocab)
            if intermediate:
                from lm.intermediate import IntermediateWriter

                sink = IntermediateWriter(intermediate, counts.vocab, new_id, res.kept, collapse_values)
            with ArpaWriter(out, header, comments) if write_arpa else _NoArpa() as w:
                sw = _SectionWriter(
                    w, reader, counts.vocab, n_ord, bar(sum(res.kept), "writing", "ngram"), new_id, sink
                )
                _interpolate_and_write(
                    res, discounts, interpolate_unigrams, vocab_pad, collapse_values, sw, block_rows
                )
            if sink is not None:
                sink.close(True)
                sink = None
        finally:
            reader.close()
            if sink is not None:
                sink.close(False)
        return header
    finally:
        for b in bars:
            b.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _interpolate_and_write(
    res: StreamingResult,
    discounts,
    interpolate_unigrams: bool,
    vocab_pad: int,
    collapse: bool,
    sw: _SectionWriter,
    block: int,
) -> None:
    vsize = np.uint64(res.vocab_size)
    p_prev = unigram_probs(res.uni_adjusted, res.uni_pruned, discounts[0], interpolate_unigrams, vocab_pad)
    q_part = np.ones(len(p_prev), np.float32) if collapse else None  # --collapse_values
    ctx_prev = None  # order n-1: index of each entry's context in order n-2 (in memory)
    n_ord = len(res.orders) + 1
    for n in range(2, n_ord + 1):
        of = res.orders[n - 2]
        d = discounts[n - 1]
        m_prev = len(p_prev)
        m = len(of)
        below = res.orders[n - 3] if n >= 3 else None
        keys_prev = None
        if n >= 3:
            keys_prev = below.suffix.load().astype(np.uint64)
            keys_prev *= vsize
            keys_prev += below.first.load().astype(np.uint64)
        ctx_t = np.int32 if m_prev < 2**31 else np.int64
        ctx_col = _Column(of.first.path.with_suffix(".ctx"), ctx_t)
        big = of.adjusted.dtype == np.int64 or (n == 2 and res.uni_adjusted.sum() >= 2**32)
        sum_t = np.int64 if big else np.uint32
        denom = np.zeros(m_prev, sum_t)
        n1 = np.zeros(m_prev, np.uint32)
        n2 = np.zeros(m_prev, np.uint32)
        n3 = np.zeros(m_prev, np.uint32)
        has_pruned = of.num_pruned > 0
        pmass = np.zeros(m_prev if has_pruned else 1, sum_t)
        # pass 1: contexts and their sums
        for s in range(0, m, block):
            e = min(m, s + block)
            first = of.first.read(s, e)
            if n == 2:
                ctx = first.astype(ctx_t)
            else:
                q = ctx_prev[of.suffix.read(s, e)].astype(np.uint64)
                q *= vsize
                q += first.astype(np.uint64)
                order = np.argsort(q)
                ctx = np.empty(e - s, ctx_t)
                ctx[order] = np.searchsorted(keys_prev, q[order])
                del q, order
            ctx_col.append(ctx)
            _context_sums(ctx, of.adjusted.read(s, e), of.pruned.read(s, e), denom, n1, n2, n3, pmass)
        ctx_col.finish()
        keys_prev = ctx_prev = None  # free before the gammas
        gamma = _gammas(denom, n1, n2, n3, pmass, d, has_pruned)
        del n1, n2, n3, pmass
        # order n-1 is complete: write it
        q_delta = sw.write(n - 1, p_prev, gamma, below, res.uni_pruned, q_part)
        q_part = np.empty(m, np.float32) if collapse else None
        # pass 2: probabilities of order n
        p = np.empty(m, np.float32)
        for s in range(0, m, block):
            e = min(m, s + block)
            ctx = ctx_col.read(s, e)
            suffix = of.suffix.read(s, e)
            pb = _uninterp32(d, of.adjusted.read(s, e), denom[ctx])
            pb += gamma[ctx] * p_prev[suffix]
            p[s:e] = pb
            if collapse:
                q_part[s:e] = q_delta[suffix] / gamma[ctx]
        del denom, gamma, p_prev, q_delta
        p_prev = p
        ctx_prev = ctx_col.load() if n < n_ord else None
    sw.write(n_ord, p_prev, None, res.orders[-1], None, q_part)
