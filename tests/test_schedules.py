"""Properties of gdsim.schedules (the Keras cross-check is in tests/keras/)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import optim, schedules

lrs = st.floats(1e-5, 1.0)
steps = st.lists(st.integers(0, 10_000), min_size=1, max_size=20)


def _all(lr0):
    return [
        schedules.constant(lr0),
        schedules.ExponentialDecay(lr0, 10, 0.9),
        schedules.ExponentialDecay(lr0, 7, 0.5, staircase=True),
        schedules.InverseTimeDecay(lr0, 3, 0.1),
        schedules.InverseTimeDecay(lr0, 3, 0.1, staircase=True),
        schedules.PiecewiseConstantDecay([5, 50], [lr0, lr0 / 2, lr0 / 10]),
        schedules.CosineDecay(lr0, 100, alpha=0.1),
        schedules.CosineDecay(lr0 / 10, 100, warmup_target=lr0, warmup_steps=20),
    ]


@settings(max_examples=30)
@given(lr0=lrs, ts=steps)
def test_vectorized_equals_scalar_calls_and_starts_at_lr0(lr0, ts):
    for sched in _all(lr0):
        vec = sched(np.array(ts))
        assert vec.shape == (len(ts),)
        assert all(sched(t) == v for t, v in zip(ts, vec))
        assert np.all(vec >= 0) and np.all(vec <= lr0 * (1 + 1e-12))
        first = sched(0)
        expected = lr0 / 10 if isinstance(sched, schedules.CosineDecay) and sched.warmup_target else lr0
        assert first == pytest.approx(expected, rel=1e-12)


@settings(max_examples=30)
@given(lr0=lrs, decay=st.floats(0, 1), t=st.integers(0, 100_000))
def test_legacy_decay_formula(lr0, decay, t):
    assert schedules.legacy_decay(lr0, decay)(t) == pytest.approx(lr0 / (1 + decay * t), rel=1e-12)


def test_piecewise_boundaries_are_inclusive_on_the_left_piece():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert list(s(np.array([0, 10, 11, 20, 21]))) == [1.0, 1.0, 0.5, 0.5, 0.1]


def test_cosine_reaches_alpha_and_stays():
    s = schedules.CosineDecay(0.2, 100, alpha=0.25)
    assert s(100) == pytest.approx(0.05) and s(1000) == s(100)
    assert s(50) == pytest.approx(0.2 * (0.75 * 0.5 + 0.25))
    w = schedules.CosineDecay(0.0 + 1e-3, 100, warmup_target=0.1, warmup_steps=10)
    assert w(5) == pytest.approx(1e-3 + (0.1 - 1e-3) * 0.5)
    assert w(10) == pytest.approx(0.1)


def test_exponential_decay_formula_and_float32():
    s = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert s(20) == pytest.approx(0.025)
    assert s(25) == pytest.approx(0.1 * 0.5 ** 2.5)
    assert s.evaluate(20, dtype="float32").dtype == np.float32


def test_array_initial_learning_rate_broadcasts():
    s = schedules.ExponentialDecay(np.array([0.1, 0.2]), 10, 0.5)
    np.testing.assert_allclose(s(10), [0.05, 0.1])


def test_config_round_trip_and_repr():
    for sched in _all(0.1):
        clone = type(sched).from_config(sched.get_config())
        assert np.array_equal(clone(np.arange(200)), sched(np.arange(200)))
        assert type(sched).__name__ in repr(sched)


@pytest.mark.parametrize("make,match", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps must be > 0"),
    (lambda: schedules.ExponentialDecay(-0.1, 1, 0.5), "initial_learning_rate must be > 0"),
    (lambda: schedules.PiecewiseConstantDecay([10, 5], [1.0, 0.5, 0.1]), "strictly increasing"),
    (lambda: schedules.PiecewiseConstantDecay([10], [1.0]), "len\\(boundaries\\) \\+ 1"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=2), "alpha"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=0.2), "warmup_steps"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_steps():
    s = schedules.constant(0.1)
    with pytest.raises(TypeError, match="step"):
        s(1.5)
    with pytest.raises(ValueError, match="step must be >= 0"):
        s(-1)


def test_optimizer_uses_schedule_at_current_iterations_in_param_dtype():
    sched = schedules.PiecewiseConstantDecay([0, 1], [0.5, 0.25, 0.125])
    opt = optim.SGD(sched)
    x = np.array([1.0], dtype=np.float32)
    state = opt.init(x)
    for expected in [0.5, 0.25, 0.125, 0.125]:
        y, state = opt.step(x, np.array([1.0], dtype=np.float32), state)
        assert x[0] - y[0] == pytest.approx(expected)
        assert y.dtype == np.float32
        x = y
