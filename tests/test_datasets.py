"""gdsim.datasets: the Keras validation split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gdsim.datasets import train_validation_split


# ---------------------------------------------------------------- train_validation_split

def test_split_takes_the_last_fraction_in_order():
    x = np.arange(8000)[:, None] * np.ones((1, 3))
    y = np.arange(8000)
    (xt, yt), (xv, yv) = train_validation_split(x, y)
    assert len(xt) == 6000 and len(xv) == 2000
    np.testing.assert_array_equal(yt, np.arange(6000))
    np.testing.assert_array_equal(yv, np.arange(6000, 8000))
    np.testing.assert_array_equal(xv[:, 0], yv)


def test_split_uses_keras_floor_rule():
    # Keras: split_at = floor(N * (1 - f)); 7 * 0.7 == 4.8999999999999995 -> 4 train, 3 val
    (xt, _), (xv, _) = train_validation_split(np.arange(7), np.arange(7), 0.3)
    assert (len(xt), len(xv)) == (4, 3)
    (xt, _), (xv, _) = train_validation_split(np.arange(10), np.arange(10), 0.25)
    assert (len(xt), len(xv)) == (7, 3)


@given(n=st.integers(2, 500), fraction=st.floats(0.001, 0.999))
@settings(deadline=None, max_examples=100)
def test_split_sizes_property(n, fraction):
    split = math.floor(n * (1.0 - fraction))
    x = np.arange(n)
    if split in (0, n):
        with pytest.raises(ValueError, match="cannot be split"):
            train_validation_split(x, x, fraction)
        return
    (xt, yt), (xv, yv) = train_validation_split(x, x, fraction)
    assert len(xt) == split and len(xv) == n - split
    np.testing.assert_array_equal(np.concatenate([xt, xv]), x)


@pytest.mark.parametrize("args, error, words", [
    ((np.zeros(10), np.zeros(9)), ValueError, "same number of samples"),
    ((np.zeros(10), np.zeros(10), 0.0), ValueError, r"validation_fraction must be in \(0.0, 1.0\)"),
    ((np.zeros(10), np.zeros(10), 1.0), ValueError, r"validation_fraction must be in \(0.0, 1.0\)"),
    ((np.zeros(3), np.zeros(3), 0.7), ValueError, "3 samples cannot be split"),
    ((np.zeros(10), np.zeros(10), "0.2"), TypeError, "validation_fraction must be a real number"),
    (("abc", np.zeros(3)), TypeError, "x must be a numeric array"),
])
def test_split_bad_arguments(args, error, words):
    with pytest.raises(error, match=words):
        train_validation_split(*args)
