"""Floating-point settings shared by every loop that treats divergence as data.

``overflow_is_data()`` silences NumPy's overflow/invalid/divide/underflow warnings for a block:
a diverging run overflows to inf and then NaN, which gdsim records (and counts, and reports
once) instead of printing a warning per operation.
"""

from __future__ import annotations

import numpy as np

#: the np.errstate settings of :func:`overflow_is_data`
SILENT = {"over": "ignore", "invalid": "ignore", "divide": "ignore", "under": "ignore"}


def overflow_is_data() -> np.errstate:
    """``np.errstate`` ignoring overflow, invalid, divide and underflow (use as ``with``)."""
    return np.errstate(**SILENT)
