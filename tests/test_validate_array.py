"""``_validate.array``'s cast: finite in the source dtype but not in the target is refused."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gdsim import _validate

FLOAT32_MAX = float(np.finfo(np.float32).max)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4),
                  elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_cast_to_float32_is_exact_or_refused_with_the_reason(values):
    finite = np.isfinite(values)
    too_big = finite & (np.abs(values) > FLOAT32_MAX)
    if not finite.all() or too_big.any():
        with pytest.raises(ValueError) as error:
            _validate.array("x", values, dtype=np.float32)
        message = str(error.value)
        assert message.startswith("x must be finite")
        if too_big.any():  # the overflow is named, with the largest offending magnitude
            assert "finite in float32" in message
            assert f"{np.abs(values[too_big]).max():.3g}" in message
        else:
            assert "inf/NaN" in message
    else:
        cast = _validate.array("x", values, dtype=np.float32)
        assert cast.dtype == np.float32
        np.testing.assert_array_equal(cast, values.astype(np.float32))


def test_non_finite_allowed_when_not_required():
    values = np.array([1e300, np.nan])
    cast = _validate.array("x", values, dtype=np.float32, require_finite=False)
    assert np.isinf(cast[0]) and np.isnan(cast[1])


def test_same_dtype_is_not_copied():
    values = np.ones((3, 2), dtype=np.float32)
    assert _validate.array("x", values, dtype=np.float32) is values
