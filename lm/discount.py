"""Count-of-counts -> modified Kneser-Ney discounts D1, D2, D3+ per order (lmplz's ``CalculateDiscounts``).

Input: int64 [N, 5] count-of-counts (``[n-1, c]`` = number of order-n n-grams with adjusted count c) from
:mod:`lm.adjust`. Output: one :class:`Discount` per order. Formula: Chen & Goodman (1998) eq. 26,
``Y = n1 / (n1 + 2 n2)``, ``D_c = c - (c + 1) Y n_{c+1} / n_c`` for c = 1, 2, 3, computed in 32-bit floats exactly as
kenlm ``lm/builder/adjust_counts.cc`` does (our own code), so the discounts agree to the last printed digit.

When an order has no n-grams with adjusted count 1, 2 or 3, or a discount falls outside [0, c], the closed form is
unusable: without a fallback this raises :class:`DiscountError` worded for a person (which order, which count,
why, and that ``--discount_fallback`` fixes it); with a fallback (lmplz's default 0.5 1 1.5) it substitutes the
fallback for that order and reports it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from asr.errors import CifstError

__all__ = ["Discount", "DiscountError", "kneser_ney_discounts", "parse_discount_fallback", "DEFAULT_FALLBACK"]

DEFAULT_FALLBACK = (0.5, 1.0, 1.5)


class DiscountError(CifstError):
    """The closed-form Kneser-Ney discounts cannot be computed for some order."""


@dataclass(frozen=True)
class Discount:
    """Discounts for adjusted counts 1, 2 and 3+ (lmplz's ``Discount::amount[1..3]``; count 0 has discount 0)."""

    d1: float
    d2: float
    d3: float

    def amounts(self) -> np.ndarray:
        """float64 [4]: the discount for counts 0, 1, 2, 3+."""
        return np.array([0.0, self.d1, self.d2, self.d3])

    def of(self, counts: np.ndarray) -> np.ndarray:
        """float64 [m]: discount of each count (int64 [m])."""
        return self.amounts()[np.minimum(counts, 3)]


def parse_discount_fallback(values: list[str] | None) -> tuple[float, float, float] | None:
    """Parse ``--discount_fallback`` values as lmplz does: up to three numbers, the last repeated, D_c in [0, c].

    Args:
        values: ``None`` (option absent), ``[]`` (given without values: the defaults 0.5 1 1.5) or 1-3 strings.

    Returns:
        (D1, D2, D3+) or ``None`` when the option is absent.

    Raises:
        CifstError: More than three values, a non-number, or a discount out of range.
    """
    if values is None:
        return None
    if not values:
        return DEFAULT_FALLBACK
    if len(values) > 3:
        raise CifstError("--discount_fallback takes at most three discounts: for adjusted counts 1, 2 and 3+")
    out = []
    for i in range(3):
        v = values[min(i, len(values) - 1)]
        try:
            d = float(v)
        except ValueError:
            raise CifstError(f"--discount_fallback: {v!r} is not a number") from None
        if not 0.0 <= d <= i + 1:
            raise CifstError(
                f"--discount_fallback: the discount for count {i + 1} is {d}, outside the range [0, {i + 1}]"
            )
        out.append(d)
    return (out[0], out[1], out[2])


def _closed_form(n: np.ndarray, order: int) -> tuple[Discount | None, str]:
    """Chen & Goodman's discounts in float32 as kenlm computes them, or (None, reason)."""
    for j in (1, 2, 3):
        if n[j] == 0:
            what = f"{j}" if j < 3 else "3"
            return None, (
                f"cannot estimate the Kneser-Ney discount of {order}-grams with adjusted count {j if j < 3 else '3+'}: "
                f"no {order}-gram has adjusted count {what} (count-of-counts n1={n[1]} n2={n[2]} n3={n[3]} "
                f"n4={n[4]}). This happens with very small, duplicated or artificial text"
            )
    f32 = np.float32
    y = f32(n[1]) / f32(float(n[1]) + 2.0 * float(n[2]))
    amounts = []
    for j in (1, 2, 3):
        d = f32(j) - f32(j + 1) * y * f32(n[j + 1]) / f32(n[j])
        if d < 0.0 or d > j:
            return None, (
                f"the Kneser-Ney discount of {order}-grams for adjusted count {j if j < 3 else '3+'} came out as "
                f"{float(d):.6g}, outside [0, {j}] (count-of-counts n1={n[1]} n2={n[2]} n3={n[3]} n4={n[4]}); "
                "the text is too small or not natural enough"
            )
        amounts.append(float(d))
    return Discount(*amounts), ""


def kneser_ney_discounts(
    count_of_counts: np.ndarray,
    fallback: tuple[float, float, float] | None = None,
    overrides: list[tuple[float, float, float]] | None = None,
    warn=None,
) -> list[Discount]:
    """Modified Kneser-Ney discounts for every order.

    Args:
        count_of_counts: int64 [N, 5] from :func:`lm.adjust.build_tables`.
        fallback: (D1, D2, D3+) to use for orders where the closed form fails, or ``None`` to raise.
        overrides: Fixed discounts for the lowest orders (one triple per order, applied before estimation).
        warn: Callable taking a message for substituted orders; default prints to stderr.

    Returns:
        N :class:`Discount`.

    Raises:
        DiscountError: The closed form fails for an order and no fallback is given.
    """
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    out: list[Discount] = []
    for i, n in enumerate(np.asarray(count_of_counts)):
        order = i + 1
        if overrides and i < len(overrides):
            out.append(Discount(*overrides[i]))
            continue
        d, reason = _closed_form(n, order)
        if d is None:
            if fallback is None:
                raise DiscountError(
                    f"{reason}. Pass --discount_fallback to use the discounts D1=0.5 D2=1 D3+=1.5 for such orders "
                    "(or give your own, e.g. --discount_fallback 0.4 0.9 1.4), or build from more text"
                )
            warn(
                f"warning: {reason}; substituting fallback discounts D1={fallback[0]:g} D2={fallback[1]:g} "
                f"D3+={fallback[2]:g} for order {order}"
            )
            d = Discount(*fallback)
        out.append(d)
    return out
