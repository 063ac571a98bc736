"""whynot.report: what checked notebook cells print must not depend on round-off."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from whynot.report import band, fixed, scientific

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(finite, st.integers(0, 6), st.booleans())
def test_fixed_rounds_like_format_but_never_prints_negative_zero(value, decimals, sign):
    text = fixed(value, decimals, sign)
    assert not text.startswith("-") or float(text) < 0
    assert math.isclose(float(text), float(f"{value:.{decimals}f}"), abs_tol=0)


def test_fixed_examples():
    assert fixed(-1e-17, 4) == "0.0000"
    assert fixed(-0.00004, 4) == "0.0000"
    assert fixed(-0.00005001, 4) == "-0.0001"
    assert fixed(-0.0, 2, sign=True) == "+0.00"
    assert fixed(0.125, 2, sign=True) == "+0.12"


def test_scientific_drops_the_exponents_zero_padding():
    assert scientific(1e-4) == "1e-4" and scientific(1e-12) == "1e-12" and scientific(3e2) == "3e2"


@given(st.floats(min_value=0, max_value=1e-4, exclude_max=True))
def test_band_hides_every_error_below_the_tolerance(error):
    assert band(error, 1e-4) == "< 1e-4"


def test_band_shows_an_error_above_the_tolerance():
    assert band(2.5e-3, 1e-4) == "2.5e-03 (above 1e-4)"
    assert band(1e-4, 1e-4) == "1.0e-04 (above 1e-4)"
