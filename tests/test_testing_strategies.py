"""gdsim.testing: the strategies draw what they promise, and real optimizer properties hold
for what they draw."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gdsim import surfaces
from gdsim.testing import (OPTIMIZER_NAMES, finite_sum_datasets, learning_rates,
                           optimizer_hyperparameters, optimizers, points_in_box,
                           quadratic_problems, seeds)

FEW = settings(max_examples=25, deadline=None)


def test_import_gdsim_does_not_import_hypothesis():
    code = ("import sys, gdsim, gdsim.surfaces, gdsim.optim; "
            "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
            "assert 'gdsim.testing' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ----- what the strategies draw -----------------------------------------------------------

@FEW
@given(quadratic_problems(min_dim=2, max_dim=4, min_condition=10.0, max_condition=1e4))
def test_quadratic_problems_respect_their_bounds(surface):
    assert isinstance(surface, surfaces.Quadratic)
    assert 2 <= surface.dim <= 4
    assert 10.0 * (1 - 1e-9) <= surface.condition_number <= 1e4 * (1 + 1e-9)
    assert 0.1 <= surface.lambda_max <= 10.0
    eigenvalues = np.linalg.eigvalsh(surface.hessian_matrix)
    np.testing.assert_allclose(eigenvalues, np.sort(surface.eigenvalues), rtol=1e-9)


@FEW
@given(quadratic_problems(max_dim=1))
def test_one_dimensional_quadratics_have_condition_one(surface):
    assert surface.dim == 1 and surface.condition_number == 1.0


@FEW
@given(st.data(), st.sampled_from(surfaces.names()), st.sampled_from([(), (3,), (2, 4)]))
def test_points_in_box_lie_in_the_box(data, name, batch_shape):
    surface = surfaces.get(name)
    x = data.draw(points_in_box(surface, batch_shape=batch_shape))
    lo, hi = surface.box
    assert x.shape == batch_shape + (surface.dim,) and x.dtype == np.float64
    assert np.all(x >= lo) and np.all(x <= hi)
    x32 = data.draw(points_in_box(surface, batch_shape=2, dtype=np.float32))
    assert x32.shape == (2, surface.dim) and x32.dtype == np.float32


@FEW
@given(st.data(), st.floats(1e-6, 1.0), st.floats(1.0, 1e3))
def test_learning_rates_stay_in_range(data, low, factor):
    lr = data.draw(learning_rates(low, low * factor))
    assert low <= lr <= low * factor


@FEW
@given(finite_sum_datasets(min_n=2, max_n=7, min_features=2, max_features=3))
def test_finite_sum_datasets_shapes(data):
    x, y = data
    assert x.ndim == 2 and 2 <= x.shape[0] <= 7 and 2 <= x.shape[1] <= 3
    assert y.shape == (x.shape[0],) and x.dtype == y.dtype == np.float64
    assert np.all(np.isfinite(x)) and np.all(np.abs(y) <= 10)


@FEW
@given(seeds())
def test_seeds_make_reproducible_generators(seed):
    a = np.random.default_rng(np.random.SeedSequence(seed)).standard_normal(4)
    assert np.array_equal(a, np.random.default_rng(np.random.SeedSequence(seed)).standard_normal(4))


@pytest.mark.parametrize("call, error", [
    (lambda: quadratic_problems(min_dim=0), ValueError),
    (lambda: quadratic_problems(min_condition=0.5), ValueError),
    (lambda: quadratic_problems(min_condition=10.0, max_condition=2.0), ValueError),
    (lambda: quadratic_problems(max_dim=1, min_condition=2.0), ValueError),
    (lambda: learning_rates(0.0, 1.0), ValueError),
    (lambda: learning_rates(1.0, 0.1), ValueError),
    (lambda: optimizer_hyperparameters("adamw"), ValueError),
    (lambda: optimizers(["sgd", "lbfgs"]), ValueError),
    (lambda: points_in_box("rosenbrock"), TypeError),
    (lambda: finite_sum_datasets(min_n=5, max_n=2), ValueError),
])
def test_bad_strategy_arguments_fail_at_once(call, error):
    with pytest.raises(error):
        call()


# ----- real properties built on them ------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.data(), quadratic_problems(max_condition=1e3), st.floats(0.01, 0.99))
def test_gd_step_below_two_over_lambda_max_decreases_the_loss(data, surface, fraction):
    x = data.draw(points_in_box(surface, batch_shape=(4,)))
    lr = fraction * 2.0 / surface.lambda_max
    before = surface.value(x)
    after = surface.value(x - lr * surface.grad(x))
    # Within ~1e-6 of the minimum the step can vanish in rounding (x - lr g == x), so the
    # strict decrease is asserted away from it and a rounding-sized slack near it.
    far = np.abs(x - surface.center).max(axis=-1) > 1e-6
    assert np.all(after[far] < before[far])
    slack = 1e-20 * surface.lambda_max * (1.0 + np.abs(surface.center).max()) ** 2
    assert np.all(after <= before + slack)


@settings(max_examples=30, deadline=None)
@given(quadratic_problems(min_dim=2, max_condition=1e2), st.floats(1.05, 3.0))
def test_gd_above_two_over_lambda_max_diverges_along_the_top_eigenvector(surface, factor):
    top = surface.rotation[:, int(np.argmax(surface.eigenvalues))]
    x = surface.center + 1e-3 * top
    lr = factor * 2.0 / surface.lambda_max
    losses = []
    for _ in range(60):
        losses.append(float(surface.value(x)))
        x = x - lr * surface.grad(x)
    # along that eigenvector the error is multiplied by |1 - lr lambda_max| > 1 each step
    assert losses[-1] > 100 * losses[0]


@settings(max_examples=40, deadline=None)
@given(st.data(), quadratic_problems(max_dim=3, max_condition=1e2))
def test_sgd_optimizer_step_matches_gd_and_decreases_the_loss(data, surface):
    from gdsim import optim

    kwargs = data.draw(optimizer_hyperparameters("sgd"))
    lr = min(kwargs["learning_rate"], 1.9 / surface.lambda_max)
    x = data.draw(points_in_box(surface))
    opt = optim.SGD(learning_rate=lr)
    new, state = opt.step(x, surface.grad(x), opt.init(x))
    assert np.array_equal(new, x - surface.grad(x) * lr)
    assert surface.value(new) <= surface.value(x)
    assert int(state.iterations) == 1


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(OPTIMIZER_NAMES).flatmap(
    lambda n: st.tuples(st.just(n), optimizer_hyperparameters(n))))
def test_drawn_hyperparameters_construct_the_named_optimizer(named):
    from gdsim import optim

    name, kwargs = named
    cls = {"sgd": optim.SGD, "momentum": optim.SGD, "nesterov": optim.SGD, "adam": optim.Adam,
           "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}[name]
    opt = cls(**kwargs)
    config = opt.get_config()
    for key, value in kwargs.items():
        assert config[key] == value


@settings(max_examples=40, deadline=None)
@given(optimizers(), st.integers(1, 5))
def test_zero_gradient_leaves_parameters_in_place(opt, n):
    w = np.linspace(-1.0, 1.0, n)
    new, _ = opt.step(w, np.zeros(n), opt.init(w))
    assert np.array_equal(new, w)


@settings(max_examples=30, deadline=None)
@given(optimizer_hyperparameters("adam"), st.floats(0.1, 10.0))
def test_adam_first_step_is_the_learning_rate_up_to_epsilon(kwargs, g):
    from gdsim import optim

    opt = optim.Adam(**kwargs)
    w, _ = opt.step(np.ones(3), np.full(3, g), opt.init(np.ones(3)))
    # Keras adds epsilon to sqrt(v) before bias correction, so after the first step
    # m_hat / (sqrt(v) + eps) = s g / (s g + eps) with s = sqrt(1 - beta_2): not quite 1.
    s = np.sqrt(1.0 - kwargs["beta_2"])
    expected = kwargs["learning_rate"] * s * g / (s * g + kwargs["epsilon"])
    np.testing.assert_allclose(1.0 - w, expected, rtol=1e-9)
    if g >= 5.0:  # the docstring example of optimizer_hyperparameters
        np.testing.assert_allclose(1.0 - w, kwargs["learning_rate"], rtol=0.05)


@settings(max_examples=30, deadline=None)
@given(optimizers(["momentum", "nesterov", "adam", "rmsprop", "adagrad"]),
       quadratic_problems(max_dim=3, max_condition=10.0), seeds())
def test_optimizer_runs_are_bit_reproducible_batched_or_alone(opt, surface, seed):
    starts = np.random.default_rng(seed).uniform(*surface.box, size=(6, surface.dim))

    def run(x):
        state = opt.init(x)
        for _ in range(15):
            x, state = opt.step(x, surface.grad(x), state)
        return x

    together = run(starts)
    alone = np.stack([run(x) for x in starts])
    assert np.array_equal(together, alone)


@settings(max_examples=30, deadline=None)
@given(finite_sum_datasets(max_n=20), st.data())
def test_single_sample_gradients_average_to_the_full_gradient(data, draw):
    # the finite-sum identity behind "SGD is unbiased but noisy"
    from gdsim.problems import LinearRegression

    x, y = data
    problem = LinearRegression(x, y)
    w = draw.draw(points_in_box(problem))
    singles = np.stack([problem.grad(w, idx=np.array([i])) for i in range(len(y))])
    full = problem.grad(w)
    np.testing.assert_allclose(singles.mean(axis=0), full,
                               atol=1e-9 * (1.0 + np.abs(singles).max()))


@settings(max_examples=30, deadline=None)
@given(finite_sum_datasets(min_n=2, max_n=20), st.floats(0.05, 0.95), st.data())
def test_gd_on_least_squares_below_two_over_lambda_max_decreases_the_loss(data, fraction, draw):
    from gdsim.problems import LinearRegression

    x, y = data
    problem = LinearRegression(x, y)
    w = draw.draw(points_in_box(problem))
    lambda_max = np.linalg.eigvalsh(problem.hessian(w))[-1]
    before = problem.value(w)
    after = problem.value(w - fraction * 2.0 / lambda_max * problem.grad(w))
    assert after <= before + 1e-12 * (1.0 + before)


def test_docstring_examples_are_passing_property_tests():
    import re
    import textwrap
    import warnings

    import gdsim.testing

    namespace: dict = {}
    exec("import numpy as np, gdsim, gdsim.surfaces, gdsim.optim\n"
         "from hypothesis import assume, given, strategies as st\n"
         "from gdsim.testing import *", namespace)
    sources = [gdsim.testing.__doc__] + [getattr(gdsim.testing, n).__doc__
                                         for n in gdsim.testing.__all__ if callable(getattr(gdsim.testing, n))]
    blocks = [textwrap.dedent(b) for doc in sources
              for b in re.findall(r"::\n\n((?:[ ]{4,}.*\n|\n)+)", doc + "\n")]
    for block in blocks:
        exec(block, namespace)
    tests = {k: v for k, v in namespace.items() if k.startswith("test_")}
    assert len(tests) >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the divergence example overflows
        for test in tests.values():
            settings(max_examples=15, deadline=None)(test)()
