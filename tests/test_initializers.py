"""Initializers: Keras fans and limits, distributions, seeding, lookup."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim.nn import initializers


@pytest.mark.parametrize("shape,fans", [((), (1, 1)), ((7,), (7, 7)), ((3, 5), (3, 5)),
                                        ((3, 3, 3, 16), (27, 144)), ((1, 1, 16, 32), (16, 32))])
def test_compute_fans_like_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_glorot_uniform_limits_from_the_notes():
    glorot = initializers.get("glorot_uniform")
    assert glorot.limit_or_std((3, 3, 3, 16)) == pytest.approx(0.18732, abs=1e-5)
    assert glorot.limit_or_std((1, 1)) == pytest.approx(np.sqrt(3))


@settings(max_examples=20)
@given(fan_in=st.integers(1, 40), fan_out=st.integers(1, 40), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_glorot_uniform_bounds_dtype_and_seeding(fan_in, fan_out, seed, dtype):
    init = initializers.GlorotUniform()
    w = init((fan_in, fan_out), dtype, np.random.default_rng(seed))
    assert w.shape == (fan_in, fan_out) and w.dtype == dtype
    assert np.all(np.abs(w) <= np.sqrt(6 / (fan_in + fan_out)) * (1 + 1e-6))
    np.testing.assert_array_equal(w, init((fan_in, fan_out), dtype, np.random.default_rng(seed)))


def test_distributions_have_the_keras_variance():
    rng = np.random.default_rng(0)
    shape = (200, 300)
    for name, variance in [("glorot_uniform", 2 / 500), ("glorot_normal", 2 / 500),
                           ("he_uniform", 2 / 200), ("he_normal", 2 / 200), ("lecun_normal", 1 / 200)]:
        w = initializers.get(name)(shape, np.float64, rng)
        assert w.var() == pytest.approx(variance, rel=0.02), name
        assert abs(w.mean()) < 0.01 * np.sqrt(variance) * 10
    truncated = initializers.get("he_normal")(shape, np.float64, rng)
    std = np.sqrt(2 / 200) / 0.87962566103423978
    assert np.max(np.abs(truncated)) <= 2 * std


def test_constant_initializers_and_lookup():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3), np.float32), np.zeros((2, 3)))
    ones = initializers.get("ones")((4,), "float64")
    assert ones.dtype == np.float64 and np.all(ones == 1)
    assert np.all(initializers.Constant(2.5)((3,), np.float32) == 2.5)
    mine = initializers.RandomNormal(stddev=0.1)
    assert initializers.get(mine) is mine
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("glorot_unifrom")
    with pytest.raises(TypeError, match="rng"):
        initializers.GlorotUniform()((2, 2), np.float32, None)
    with pytest.raises(ValueError, match="dtype"):
        initializers.Zeros()((2,), np.int64)
    with pytest.raises(ValueError, match="maxval"):
        initializers.RandomUniform(1.0, 0.0)
