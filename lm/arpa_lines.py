"""n-gram arrays -> ARPA text lines, compiled with numba (the writer's inner loop).

Input: word-id columns of a block of n-grams, the vocabulary as one UTF-8 byte buffer with offsets, float32 log10
probabilities and back-offs. Output: the block's ARPA lines as bytes, ``prob \\t w1 w2 ... [\\t backoff] \\n``,
with every float printed as kenlm prints it: the shortest decimal that reads back as the same float32 (ties to the
closest), positional notation for decimal exponents in [-6, 21) and ``1.5e-7`` style otherwise (double-conversion's
``ToShortestSingle`` settings in kenlm ``util/float_to_string.cc``). Our own code; :func:`lm.arpa.format_floats`
is the slow reference it is tested against.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["encode_lines", "float32_intervals"]

_POW10 = 10.0 ** np.arange(-60, 61)


def float32_intervals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per float32 value: |x| in float64, the round-to-nearest interval (lo, hi) and whether its bounds belong to it.

    Args:
        values: float [n] (converted to float32).

    Returns:
        (abs float64 [n], lo float64 [n], hi float64 [n], closed bool [n]): every real in (lo, hi), plus the bounds
        when ``closed`` (even mantissa, ties to even), rounds to the value.
    """
    x = np.abs(np.asarray(values, np.float32))
    a = x.astype(np.float64)
    up = np.nextafter(x, np.float32(np.inf)).astype(np.float64)
    dn = np.nextafter(x, np.float32(0)).astype(np.float64)
    closed = (x.view(np.int32) & 1) == 0
    return a, (dn + a) * 0.5, (up + a) * 0.5, closed


@numba.njit(cache=True, nogil=True)
def _write_float(out, pos, neg, a, lo, hi, closed, pow10):  # pragma: no cover - compiled
    if a == 0.0:
        out[pos] = 48
        return pos + 1
    if neg:
        out[pos] = 45
        pos += 1
    if np.isinf(a):
        out[pos] = 105
        out[pos + 1] = 110
        out[pos + 2] = 102
        return pos + 3
    if np.isnan(a):
        out[pos] = 110
        out[pos + 1] = 97
        out[pos + 2] = 110
        return pos + 3
    e10 = int(np.floor(np.log10(a)))
    # Shortest digit count that round-trips: fits(p) is monotone in p and p = 9 always fits, so bisect.
    lo_p, hi_p = 1, 9
    while lo_p < hi_p:
        mid = (lo_p + hi_p) // 2
        scale = pow10[60 - (e10 - mid + 1)]
        d = np.rint(a * scale) / scale
        if (d > lo or (closed and d == lo)) and (d < hi or (closed and d == hi)):
            hi_p = mid
        else:
            lo_p = mid + 1
    nd = lo_p
    m = int(np.rint(a * pow10[60 - (e10 - nd + 1)]))
    lim = 1
    for _ in range(nd):
        lim *= 10
    if m >= lim:
        m //= 10
        e10 += 1
    while nd > 1 and m % 10 == 0:
        m //= 10
        nd -= 1
    # digits into scratch space past the write position (the caller's buffer has room), then into place
    scratch = pos + 24
    for k in range(nd - 1, -1, -1):
        out[scratch + k] = 48 + m % 10
        m //= 10
    dp = e10 + 1
    expo = dp - 1
    if -6 <= expo < 21:
        if dp <= 0:
            out[pos] = 48
            out[pos + 1] = 46
            pos += 2
            for _ in range(-dp):
                out[pos] = 48
                pos += 1
            for k in range(nd):
                out[pos] = out[scratch + k]
                pos += 1
        elif dp < nd:
            for k in range(dp):
                out[pos] = out[scratch + k]
                pos += 1
            out[pos] = 46
            pos += 1
            for k in range(dp, nd):
                out[pos] = out[scratch + k]
                pos += 1
        else:
            for k in range(nd):
                out[pos] = out[scratch + k]
                pos += 1
            for _ in range(dp - nd):
                out[pos] = 48
                pos += 1
        return pos
    out[pos] = out[scratch]
    pos += 1
    if nd > 1:
        out[pos] = 46
        pos += 1
        for k in range(1, nd):
            out[pos] = out[scratch + k]
            pos += 1
    out[pos] = 101
    pos += 1
    if expo < 0:
        out[pos] = 45
        pos += 1
        expo = -expo
    ne = 1
    t = expo
    while t >= 10:
        t //= 10
        ne += 1
    for k in range(ne - 1, -1, -1):
        out[pos + k] = 48 + expo % 10
        expo //= 10
    return pos + ne


@numba.njit(cache=True, nogil=True)
def _encode(
    cols, vbuf, voff, vlen, pneg, pa, plo, phi, pcl, bneg, ba, blo, bhi, bcl, has_b, pow10, out
):  # pragma: no cover
    pos = 0
    r, n = cols.shape
    for i in range(r):
        pos = _write_float(out, pos, pneg[i], pa[i], plo[i], phi[i], pcl[i], pow10)
        out[pos] = 9
        pos += 1
        for j in range(n):
            if j:
                out[pos] = 32
                pos += 1
            w = cols[i, j]
            o = voff[w]
            for k in range(vlen[w]):
                out[pos] = vbuf[o + k]
                pos += 1
        if has_b:
            out[pos] = 9
            pos += 1
            pos = _write_float(out, pos, bneg[i], ba[i], blo[i], bhi[i], bcl[i], pow10)
        out[pos] = 10
        pos += 1
    return pos


def encode_lines(
    cols: np.ndarray,
    vocab_buf: np.ndarray,
    vocab_off: np.ndarray,
    vocab_len: np.ndarray,
    logprob: np.ndarray,
    backoff: np.ndarray | None,
) -> bytes:
    """Format a block of ARPA lines.

    Args:
        cols: int64 [r, n] word ids, oldest first.
        vocab_buf: uint8 [B] all words' UTF-8 bytes, concatenated.
        vocab_off: int64 [V] offset of each word in ``vocab_buf``.
        vocab_len: int64 [V] byte length of each word.
        logprob: float [r] log10 probabilities (printed as float32).
        backoff: float [r] log10 back-offs, or ``None`` for lines without a back-off column (highest order).

    Returns:
        The lines as UTF-8 bytes.
    """
    cols = np.ascontiguousarray(cols, np.int64)
    r, n = cols.shape
    p = np.asarray(logprob, np.float32)
    pa, plo, phi, pcl = float32_intervals(p)
    has_b = backoff is not None
    b = np.asarray(backoff if has_b else np.zeros(0), np.float32)
    ba, blo, bhi, bcl = float32_intervals(b)
    bound = int(vocab_len[cols].sum()) + r * (n + 40) + 64
    out = np.empty(bound, np.uint8)
    used = _encode(
        cols, vocab_buf, vocab_off, vocab_len,
        np.signbit(p) & (p != 0), pa, plo, phi, pcl,
        np.signbit(b) & (b != 0), ba, blo, bhi, bcl,
        has_b, _POW10, out,
    )  # fmt: skip
    return out[:used].tobytes()
