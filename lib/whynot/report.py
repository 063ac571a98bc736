"""Numbers for checked notebook cells: printed so that every machine prints the same text.

A cell tagged ``nbval-check-output`` is re-run by ``make test`` on other CPUs, thread counts and
kernels, which round floating point differently in the last digits. Such a cell prints verdicts,
counts, names and numbers rounded to what the computation determines; round-off-sized quantities
(the error of an identity that holds exactly in theory) are printed as a band against their
tolerance, and a rounded zero never keeps a minus sign.

>>> fixed(-1e-17, 4), fixed(0.74819, 4), fixed(0.0, 2, sign=True)
('0.0000', '0.7482', '+0.00')
>>> band(2.2e-16, 1e-12), band(3e-3, 1e-4)
('< 1e-12', '3.0e-03 (above 1e-4)')
"""
from __future__ import annotations


def fixed(value: float, decimals: int, sign: bool = False) -> str:
    """``value`` with ``decimals`` decimals (a ``+`` for positives if ``sign``), never ``-0.00``."""
    spec = f"{'+' if sign else ''}.{decimals}f"
    text = format(value, spec)
    return format(0.0, spec) if float(text) == 0 else text


def scientific(value: float) -> str:
    """A tolerance the way people write it: ``1e-4``, not ``1e-04``."""
    mantissa, exponent = format(value, ".0e").split("e")
    return f"{mantissa}e{int(exponent)}"


def band(error: float, tolerance: float) -> str:
    """``"< tolerance"`` when ``error`` is below it (the value itself is round-off and differs
    between machines), else the error and the tolerance it exceeds (so a failure shows)."""
    if error < tolerance:
        return f"< {scientific(tolerance)}"
    return f"{error:.1e} (above {scientific(tolerance)})"
