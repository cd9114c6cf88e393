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
        schedules.PolynomialDecay(lr0, 100, end_learning_rate=lr0 / 100, power=2.0),
        schedules.PolynomialDecay(lr0, 30, end_learning_rate=0.0, cycle=True),
        schedules.CosineDecayRestarts(lr0, 20, t_mul=2.0, m_mul=0.5, alpha=0.1),
        schedules.CosineDecayRestarts(lr0, 20, t_mul=1.0),
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
    (lambda: schedules.ExponentialDecay(-0.1, 1, 0.5), "initial_learning_rate must be >= 0"),
    (lambda: schedules.PolynomialDecay(0.1, 0), "decay_steps must be > 0"),
    (lambda: schedules.PolynomialDecay(0.1, 10, end_learning_rate=-1.0), "end_learning_rate"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul must be > 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), "first_decay_steps must be > 0"),
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


@pytest.mark.parametrize("make", [
    lambda: schedules.CosineDecay(0.0, 1000, warmup_target=0.1, warmup_steps=100),
    lambda: schedules.ExponentialDecay(0.0, 10, 0.5),
    lambda: schedules.InverseTimeDecay(0.0, 10, 0.5),
    lambda: schedules.PolynomialDecay(0.0, 10, end_learning_rate=0.0),
    lambda: schedules.CosineDecayRestarts(0.0, 10),
    lambda: schedules.PiecewiseConstantDecay([10], [0.0, 0.1]),
    lambda: schedules.constant(0.0),
])
def test_a_zero_starting_rate_is_accepted_as_in_keras(make):
    assert make()(0) == 0.0


def test_cosine_warmup_from_zero_rises_linearly_then_decays():
    sched = schedules.CosineDecay(0.0, decay_steps=1000, warmup_target=0.1, warmup_steps=100)
    np.testing.assert_allclose(sched(np.array([0, 50, 100])), [0.0, 0.05, 0.1])
    assert sched(1100) == pytest.approx(0.0, abs=1e-15) and sched(600) == pytest.approx(0.05)


def test_polynomial_decay_formula_and_cycle():
    sched = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.1, power=2.0)
    assert sched(5) == pytest.approx(0.9 * 0.25 + 0.1) and sched(10) == sched(50) == pytest.approx(0.1)
    cyc = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    # step 15: decay_steps becomes 20 (ceil(15/10) = 2), p = 0.75
    assert cyc(0) == 1.0 and cyc(15) == pytest.approx(0.25) and cyc(10) == pytest.approx(0.0)


@settings(max_examples=30)
@given(lr0=lrs, m_mul=st.floats(0.1, 1.0), t_mul=st.sampled_from([1.0, 2.0, 3.0]))
def test_cosine_restarts_restart_at_the_period_boundaries(lr0, m_mul, t_mul):
    first = 8
    sched = schedules.CosineDecayRestarts(lr0, first, t_mul=t_mul, m_mul=m_mul)
    boundaries = [first, first + first * t_mul]  # end of period 0 and of period 1
    assert sched(0) == pytest.approx(lr0)
    assert sched(int(boundaries[0])) == pytest.approx(lr0 * m_mul, rel=1e-9)
    assert sched(int(boundaries[1])) == pytest.approx(lr0 * m_mul**2, rel=1e-9)
    assert sched(int(boundaries[0]) - 1) < sched(int(boundaries[0]))  # the jump back up


def test_from_callable_takes_keras_no_argument_form_and_gdsims_step_form():
    keras_form = schedules.from_callable(lambda: 0.25)
    gdsim_form = schedules.from_callable(lambda step: 0.5 / (1 + step))
    assert not keras_form.takes_step and gdsim_form.takes_step
    np.testing.assert_array_equal(keras_form(np.arange(3)), [0.25, 0.25, 0.25])
    assert gdsim_form(3) == 0.125 and keras_form.evaluate(7, "float32").dtype == np.float32
    opt = optim.SGD(keras_form)
    x = np.array([1.0])
    y, _ = opt.step(x, np.array([1.0]), opt.init(x))
    assert y[0] == 0.75
    with pytest.raises(TypeError, match="fn must take no argument"):
        schedules.from_callable(lambda a, b: 0.1)
    with pytest.raises(TypeError, match="fn must be callable"):
        schedules.from_callable(0.1)
