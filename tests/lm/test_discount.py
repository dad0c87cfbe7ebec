"""Kneser-Ney discounts: a hand-worked case, and the failure message naming the discount that cannot be computed."""

from __future__ import annotations

import numpy as np
import pytest

from lm.discount import DiscountError, kneser_ney_discounts


def test_hand_worked_discounts():
    # n1=10 n2=4 n3=2 n4=1: Y = 10/18; D1 = 1 - 2Y*4/10, D2 = 2 - 3Y*2/4, D3+ = 3 - 4Y*1/2
    (d,) = kneser_ney_discounts(np.array([[0, 10, 4, 2, 1]]))
    y = 10 / 18
    assert d.d1 == pytest.approx(1 - 2 * y * 0.4, rel=1e-6)
    assert d.d2 == pytest.approx(2 - 3 * y * 0.5, rel=1e-6)
    assert d.d3 == pytest.approx(3 - 4 * y * 0.5, rel=1e-6)


def test_missing_count_two_names_the_discount_of_count_two():
    with pytest.raises(DiscountError) as ei:
        kneser_ney_discounts(np.array([[0, 5, 0, 1, 1], [0, 2, 0, 0, 0]]))
    msg = str(ei.value)
    assert "1-grams with adjusted count 2:" in msg and "no 1-gram has adjusted count 2" in msg
    assert "--discount_fallback" in msg
