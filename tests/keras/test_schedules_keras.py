"""gdsim.schedules against keras.optimizers.schedules on a range of steps (float32)."""

import numpy as np
import pytest

from gdsim import optim, schedules

STEPS = np.array([0, 1, 2, 3, 5, 9, 10, 11, 50, 99, 100, 101, 250, 999, 1000, 5000])

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.96)),
    ("ExponentialDecay", dict(initial_learning_rate=0.01, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=1, decay_rate=0.01)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.5, decay_steps=20, decay_rate=2.0, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 100, 1000], values=[1.0, 0.5, 0.1, 0.01])),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=1000)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=500, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=500, warmup_target=0.2, warmup_steps=100)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=1000)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=100, end_learning_rate=0.01,
                             power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=100, end_learning_rate=0.0,
                             power=2.0, cycle=True)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=100, t_mul=1.0,
                                 m_mul=0.5, alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.05, first_decay_steps=7, t_mul=1.5,
                                 m_mul=0.9, alpha=0.0)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 100], values=[0.0, 0.1, 0.01])),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_schedule_matches_keras(keras, name, kwargs):
    ksched = getattr(keras.optimizers.schedules, name)(**kwargs)
    gsched = getattr(schedules, name)(**kwargs)
    expected = np.array([float(keras.ops.convert_to_numpy(ksched(int(s)))) for s in STEPS])
    got32 = gsched.evaluate(STEPS, dtype="float32")
    got64 = gsched(STEPS)
    assert got32.dtype == np.float32 and got64.dtype == np.float64 and got32.shape == STEPS.shape
    # atol: float32 cancellation in 1 + cos(pi*s) near the end of a cosine decay, and XLA
    # flushing float32 subnormals (0.5**142) to zero where NumPy keeps them.
    atol = 1e-6 * max(kwargs.get("initial_learning_rate", 0), kwargs.get("warmup_target") or 0,
                      max(kwargs.get("values", [0])))
    np.testing.assert_allclose(got32, expected, rtol=1e-6, atol=atol)
    # float64 differs from Keras's float32 by the float32 rounding of decay_rate, raised to
    # step/decay_steps (500 here): 1.1e-5 relative at most on these steps.
    np.testing.assert_allclose(got64, expected, rtol=2e-5, atol=atol)
    # scalar steps give the same numbers as the vectorized call
    assert all(gsched.evaluate(int(s), dtype="float32") == v for s, v in zip(STEPS, got32))


def test_legacy_decay_is_inverse_time(keras):
    k = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 1e-3)
    g = schedules.legacy_decay(0.01, 1e-3)
    for s in STEPS:
        assert g.evaluate(int(s), "float32") == pytest.approx(float(keras.ops.convert_to_numpy(k(int(s)))), rel=1e-7)


def test_a_plain_callable_learning_rate_in_keras_form_gives_keras_steps(keras):
    """Keras calls ``learning_rate=lambda: value`` with no arguments; gdsim takes it through
    ``schedules.from_callable``: the same SGD steps as Keras."""
    rate = {"value": 0.1}
    kopt = keras.optimizers.SGD(learning_rate=lambda: rate["value"])
    var = keras.Variable(np.array([1.0, -2.0], dtype="float32"))
    gopt = optim.SGD(schedules.from_callable(lambda: rate["value"]))
    x = np.array([1.0, -2.0], dtype=np.float32)
    state = gopt.init(x)
    for value in (0.1, 0.05, 0.2):
        rate["value"] = value
        grad = np.array([0.5, 1.5], dtype=np.float32)
        kopt.apply_gradients([(keras.ops.convert_to_tensor(grad), var)])
        x, state = gopt.step(x, grad, state)
        np.testing.assert_array_equal(x, keras.ops.convert_to_numpy(var))
