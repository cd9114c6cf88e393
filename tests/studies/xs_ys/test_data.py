"""gdsim.studies.xs_ys.data: the seed regression data."""

import numpy as np
import pytest

from gdsim.studies.xs_ys.data import seed_regression


# ---------------------------------------------------------------- seed_regression

def test_seed_regression_is_the_seed_data():
    xs, ys = seed_regression()
    assert xs.shape == ys.shape == (20,)
    assert xs.dtype == ys.dtype == np.float32
    np.testing.assert_array_equal(xs, np.arange(1.0, 21.0))
    np.testing.assert_array_equal(ys, np.arange(1.0, 21.0) / 2)


def test_seed_regression_n_and_dtype():
    xs, ys = seed_regression(10, dtype="float64")
    assert xs.dtype == np.float64 and xs[-1] == 10.0 and ys[-1] == 5.0


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": 2.5}, TypeError, "n must be an integer"),
    ({"dtype": "int32"}, ValueError, "dtype must be 'float32' or 'float64'"),
])
def test_seed_regression_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        seed_regression(**kwargs)
