"""Smoothing methods other than lmplz's modified Kneser-Ney, on the same count tables.

Input: :class:`lm.counts.NgramCounts` and an :class:`lm.build.LmBuildConfig`. Output: :class:`lm.model.NgramModel`
(an ARPA back-off model whose every context's distribution sums to one).

- ``kn``: interpolated Kneser-Ney with one discount per order (Kneser & Ney 1995; Chen & Goodman 1998 sec. 2.7),
  D = n1 / (n1 + 2 n2) on the adjusted counts unless ``--discount`` is given.
- ``absolute``: interpolated absolute discounting on raw counts (Ney, Essen & Kneser 1994).
- ``witten-bell``: interpolated Witten-Bell (Witten & Bell 1991; Chen & Goodman sec. 2.4).
- ``add-k``: additive smoothing of each order, backing off to the order below for unseen words with the back-off
  weight that normalises the distribution (Katz-style back-off).
- ``katz``: Katz back-off with Good-Turing discounting of counts up to ``katz_k`` (Katz 1987).

All share lmplz's conventions: ``<s>`` has probability 1 (log10 0) and is never predicted; unigrams interpolate with
(or back off to) the uniform distribution over the vocabulary without ``<s>``; count pruning and the limit vocabulary
work as for ``mkn`` (the mass of pruned n-grams goes to the back-off).
"""

from __future__ import annotations

from lm.smoothing.methods import build_smoothed

__all__ = ["build_smoothed"]
