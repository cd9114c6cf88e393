"""Hypothesis strategies for property tests of optimizer math.

Reuse them in your own tests (``pip install "gdsim[testing]"`` installs hypothesis; this is
the only gdsim module that imports it, and ``import gdsim`` does not import it). A complete
property test, "one GD step on any quadratic with ``lr < 2 / lambda_max`` lowers the
loss"::

    import numpy as np
    from hypothesis import assume, given, strategies as st
    from gdsim.testing import quadratic_problems, points_in_box

    @given(st.data(), quadratic_problems(max_condition=1e3), st.floats(0.01, 0.99))
    def test_gd_step_decreases_loss(data, surface, fraction):
        x = data.draw(points_in_box(surface))
        assume(np.abs(x - surface.center).max() > 1e-6)  # not lost in rounding at the minimum
        lr = fraction * 2.0 / surface.lambda_max
        assert surface.value(x - lr * surface.grad(x)) < surface.value(x)

Strategies:

* :func:`quadratic_problems` -- random ill-conditioned bowls (:class:`gdsim.surfaces.Quadratic`).
* :func:`points_in_box` -- points (or batches of points) inside a surface's plotting box.
* :func:`learning_rates` -- log-uniform learning rates.
* :func:`optimizer_hyperparameters` / :func:`optimizers` -- valid keyword arguments for,
  and instances of, the :mod:`gdsim.optim` optimizers.
* :func:`finite_sum_datasets` -- small regression data sets ``(x, y)``.
* :func:`seeds` -- integer seeds for :class:`numpy.random.SeedSequence`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as missing:  # say how to get it, not just what is missing
    raise ModuleNotFoundError(f"gdsim.testing needs hypothesis ({missing}): "
                              f"pip install 'gdsim[testing]'", name=missing.name) from None

from gdsim import _validate
from gdsim.surfaces import Quadratic, Surface

__all__ = [
    "quadratic_problems", "points_in_box", "learning_rates", "optimizer_hyperparameters",
    "optimizers", "finite_sum_datasets", "seeds", "OPTIMIZER_NAMES",
]

#: Names accepted by :func:`optimizer_hyperparameters` and :func:`optimizers`:
#: plain SGD, SGD with momentum, SGD with Nesterov momentum, Adam, RMSprop, Adagrad.
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")


def _log_uniform(min_value: float, max_value: float) -> st.SearchStrategy[float]:
    """Floats whose logarithm is uniform on [log min, log max], clipped into the range."""
    if min_value == max_value:
        return st.just(min_value)
    low, high = math.log(min_value), math.log(max_value)
    return st.floats(low, high).map(lambda t: min(max(math.exp(t), min_value), max_value))


def learning_rates(min_value: float = 1e-4, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Learning rates, log-uniform in ``[min_value, max_value]`` (both > 0).

    Log-uniform because learning rates matter by their order of magnitude: a uniform draw
    on [1e-4, 1] would almost never try anything below 0.01. Example::

        @given(quadratic_problems(), learning_rates(1e-3, 10.0))
        def test_divergence_threshold(surface, lr):
            x = surface.center + 1.0          # any start off the minimum
            for _ in range(50): x = x - lr * surface.grad(x)
            grew = surface.value(x) > surface.value(surface.center + 1.0)
            assert not grew or lr * surface.lambda_max > 2.0
    """
    min_value = _validate.positive("min_value", min_value)
    max_value = _validate.positive("max_value", max_value)
    if min_value > max_value:
        raise ValueError(f"min_value must be <= max_value, got {min_value} > {max_value}")
    return _log_uniform(min_value, max_value)


@st.composite
def _quadratic(draw: Any, min_dim: int, max_dim: int, min_condition: float,
               max_condition: float) -> Quadratic:
    lowest_dim = max(min_dim, 2) if min_condition > 1.0 else min_dim
    dim = draw(st.integers(lowest_dim, max_dim))
    condition = 1.0 if dim == 1 else draw(_log_uniform(min_condition, max_condition))
    lambda_max = draw(_log_uniform(0.1, 10.0))
    # The extremes are pinned so the condition number is exactly the one drawn; the rest
    # fall anywhere in between, in any order (the order decides which axis is steep).
    inner = draw(st.lists(_log_uniform(lambda_max / condition, lambda_max),
                          min_size=max(dim - 2, 0), max_size=max(dim - 2, 0)))
    eigenvalues = [lambda_max] if dim == 1 else [lambda_max / condition, lambda_max] + inner
    eigenvalues = draw(st.permutations(eigenvalues))
    rotation = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
    center = draw(st.lists(st.floats(-2.0, 2.0), min_size=dim, max_size=dim))
    return Quadratic(eigenvalues=eigenvalues, seed=rotation, center=center)


def quadratic_problems(min_dim: int = 1, max_dim: int = 5, min_condition: float = 1.0,
                       max_condition: float = 1e3) -> st.SearchStrategy[Quadratic]:
    """Random bowls ``f(x) = 1/2 (x - c)^T Q diag(lambda) Q^T (x - c)``.

    ``dim`` is uniform in ``[min_dim, max_dim]``; the condition number
    ``lambda_max / lambda_min`` is log-uniform in ``[min_condition, max_condition]`` and is
    exactly attained (1-D bowls have condition 1, so they are drawn only when
    ``min_condition == 1``); ``lambda_max`` is log-uniform in [0.1, 10]; ``Q`` is the
    identity or a seeded random rotation; ``c`` is in ``[-2, 2]^d``. Returns a
    :class:`gdsim.surfaces.Quadratic` (``.lambda_max``, ``.lambda_min``, ``.center``,
    ``.hessian_matrix``, ``.eigenvalues``).

    Example -- GD contracts the distance to the minimum when ``lr < 2 / lambda_max``::

        @given(st.data(), quadratic_problems(), st.floats(0.01, 0.99))
        def test_gd_contracts(data, surface, fraction):
            x = data.draw(points_in_box(surface))
            assume(np.abs(x - surface.center).max() > 1e-6)
            lr = fraction * 2.0 / surface.lambda_max
            step = x - lr * surface.grad(x)
            assert np.linalg.norm(step - surface.center) < np.linalg.norm(x - surface.center)
    """
    min_dim = _validate.integer("min_dim", min_dim, minimum=1)
    max_dim = _validate.integer("max_dim", max_dim, minimum=min_dim)
    min_condition = _validate.finite("min_condition", min_condition)
    if min_condition < 1.0:
        raise ValueError(f"min_condition must be >= 1, got {min_condition}")
    max_condition = _validate.finite("max_condition", max_condition)
    if max_condition < min_condition:
        raise ValueError(f"max_condition must be >= min_condition, got {max_condition} < "
                         f"{min_condition}")
    if min_condition > 1.0 and max_dim < 2:
        raise ValueError(f"a condition number > 1 needs max_dim >= 2, got max_dim={max_dim}")
    return _quadratic(min_dim, max_dim, min_condition, max_condition)


def points_in_box(surface: Surface | Any, batch_shape: int | Sequence[int] = (),
                  dtype: Any = np.float64) -> st.SearchStrategy[np.ndarray]:
    """Arrays of shape ``batch_shape + (surface.dim,)`` with every point inside ``surface.box``.

    ``surface`` is a :class:`gdsim.surfaces.Surface` or anything with ``dim`` and ``box``
    (e.g. :class:`gdsim.problems.LinearRegression`).

    Coordinates are drawn uniformly on [0, 1] (hypothesis's float strategy, which also
    likes 0, 1 and other edge values) and mapped affinely onto ``[lo_i, hi_i]``. Example::

        @given(st.data())
        def test_rosenbrock_is_nonnegative(data):
            s = gdsim.surfaces.get("rosenbrock")
            x = data.draw(points_in_box(s, batch_shape=(10,)))
            assert np.all(s.value(x) >= 0)
    """
    if not (hasattr(surface, "dim") and hasattr(surface, "box")):
        raise TypeError(f"surface must be a gdsim.surfaces.Surface (or a problem with .dim and "
                        f".box), got {surface!r}")
    if isinstance(batch_shape, (int, np.integer)) and not isinstance(batch_shape, bool):
        batch_shape = (batch_shape,)
    batch_shape = tuple(_validate.integer("batch_shape", n, minimum=0) for n in batch_shape)
    dtype = _validate.float_dtype("dtype", dtype)
    lo, hi = surface.box
    shape = batch_shape + (surface.dim,)

    def to_box(unit: np.ndarray) -> np.ndarray:
        return np.clip(lo + unit * (hi - lo), lo, hi).astype(dtype)

    unit = hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0))
    return unit.map(to_box)


def _hyperparameters(name: str) -> st.SearchStrategy[dict[str, Any]]:
    learning_rate = learning_rates(1e-4, 0.1)
    epsilon = _log_uniform(1e-8, 1e-3)
    momentum = st.floats(0.1, 0.99)
    if name == "sgd":
        return st.fixed_dictionaries({"learning_rate": learning_rate})
    if name == "momentum":
        return st.fixed_dictionaries({"learning_rate": learning_rate, "momentum": momentum})
    if name == "nesterov":
        return st.fixed_dictionaries({"learning_rate": learning_rate, "momentum": momentum,
                                      "nesterov": st.just(True)})
    if name == "adam":
        return st.fixed_dictionaries({
            "learning_rate": learning_rate, "beta_1": st.floats(0.0, 0.99),
            "beta_2": st.floats(0.9, 0.9999), "epsilon": epsilon, "amsgrad": st.booleans()})
    if name == "rmsprop":
        return st.fixed_dictionaries({
            "learning_rate": learning_rate, "rho": st.floats(0.5, 0.99),
            "momentum": st.one_of(st.just(0.0), momentum), "epsilon": epsilon,
            "centered": st.booleans()})
    return st.fixed_dictionaries({  # adagrad
        "learning_rate": learning_rate, "initial_accumulator_value": st.floats(0.0, 1.0),
        "epsilon": epsilon})


def optimizer_hyperparameters(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid keyword arguments for the gdsim optimizer ``name`` (one of ``OPTIMIZER_NAMES``).

    ``"sgd"`` -> ``SGD(learning_rate)``; ``"momentum"`` -> ``SGD(learning_rate, momentum)``;
    ``"nesterov"`` adds ``nesterov=True``; ``"adam"`` -> ``Adam(learning_rate, beta_1, beta_2,
    epsilon, amsgrad)``; ``"rmsprop"`` -> ``RMSprop(learning_rate, rho, momentum, epsilon,
    centered)``; ``"adagrad"`` -> ``Adagrad(learning_rate, initial_accumulator_value, epsilon)``.
    Learning rates are log-uniform in [1e-4, 0.1], epsilons log-uniform in [1e-8, 1e-3],
    momenta in [0.1, 0.99], ``beta_1`` in [0, 0.99], ``beta_2`` in [0.9, 0.9999],
    ``rho`` in [0.5, 0.99]. Example::

        @given(optimizer_hyperparameters("adam"))
        def test_adam_first_step_is_about_lr(kwargs):
            opt = gdsim.optim.Adam(**kwargs)
            w, _ = opt.step(np.ones(3), np.full(3, 5.0), opt.init(np.ones(3)))
            assert np.allclose(1.0 - w, kwargs["learning_rate"], rtol=0.05)
    """
    name = _validate.choice("optimizer name", name, OPTIMIZER_NAMES)
    return _hyperparameters(name)


def optimizers(names: Sequence[str] = OPTIMIZER_NAMES) -> st.SearchStrategy[Any]:
    """Instances of :mod:`gdsim.optim` optimizers built from :func:`optimizer_hyperparameters`.

    ``names`` picks which kinds are drawn (default: all of ``OPTIMIZER_NAMES``). Example::

        @given(optimizers(), st.integers(1, 5))
        def test_zero_gradient_from_rest_does_not_move(opt, n):
            w = np.linspace(-1.0, 1.0, n)
            new, _ = opt.step(w, np.zeros(n), opt.init(w))
            assert np.array_equal(new, w)
    """
    from gdsim import optim  # lazily: the strategies module must import without optim

    if isinstance(names, str):
        names = (names,)
    names = [_validate.choice("optimizer name", n, OPTIMIZER_NAMES) for n in names]
    if not names:
        raise ValueError("names must not be empty")
    classes = {"sgd": optim.SGD, "momentum": optim.SGD, "nesterov": optim.SGD,
               "adam": optim.Adam, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}
    return st.sampled_from(names).flatmap(
        lambda n: _hyperparameters(n).map(lambda kwargs: classes[n](**kwargs)))


@st.composite
def _datasets(draw: Any, min_n: int, max_n: int, min_features: int, max_features: int,
              dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_n, max_n))
    features = draw(st.integers(min_features, max_features))
    values = st.floats(-10.0, 10.0, width=32 if dtype == np.float32 else 64)
    x = draw(hnp.arrays(dtype, (n, features), elements=values))
    y = draw(hnp.arrays(dtype, (n,), elements=values))
    return x, y


def finite_sum_datasets(min_n: int = 1, max_n: int = 50, min_features: int = 1,
                        max_features: int = 3, dtype: Any = np.float64
                        ) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Regression data ``(x, y)``: ``x`` of shape (n, features), ``y`` of shape (n,),
    finite values in [-10, 10], for losses ``L(w) = 1/n sum_i l_i(w)`` (a finite sum, so
    minibatch gradients are unbiased estimates of the full gradient). Example::

        @given(finite_sum_datasets(min_n=2))
        def test_mean_of_per_sample_grads_is_full_grad(data):
            x, y = data
            w = np.zeros(x.shape[1])
            per_sample = 2 * (x @ w - y)[:, None] * x
            assert np.allclose(per_sample.mean(0), 2 * x.T @ (x @ w - y) / len(y))
    """
    min_n = _validate.integer("min_n", min_n, minimum=1)
    max_n = _validate.integer("max_n", max_n, minimum=min_n)
    min_features = _validate.integer("min_features", min_features, minimum=1)
    max_features = _validate.integer("max_features", max_features, minimum=min_features)
    return _datasets(min_n, max_n, min_features, max_features, _validate.float_dtype("dtype", dtype))


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``numpy.random.SeedSequence`` / ``default_rng``: integers in [0, 2**32).

    Example -- a seeded run is reproducible::

        @given(seeds())
        def test_same_seed_same_draws(seed):
            a = np.random.default_rng(seed).standard_normal(5)
            assert np.array_equal(a, np.random.default_rng(seed).standard_normal(5))
    """
    return st.integers(0, 2**32 - 1)
