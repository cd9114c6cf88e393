"""gdsim.problems: hand-written gradients and Hessians against float64 central finite
differences, minibatch semantics, batch invariance, the seed problem's numbers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim.problems import LinearRegression

small = st.floats(-3, 3, allow_nan=False)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) if d == 1 and draw(st.booleans()) else rng.standard_normal((n, d))
    return LinearRegression(x, rng.standard_normal(n)), rng


def _fd(f, w, h=1e-6):
    out = []
    for j in range(w.shape[-1]):
        e = np.zeros_like(w)
        e[..., j] = h
        out.append((f(w + e) - f(w - e)) / (2 * h))
    return np.stack(out, axis=-1)


@settings(max_examples=50)
@given(pr=problems(), runs=st.integers(1, 4))
def test_grad_and_hessian_match_finite_differences(pr, runs):
    problem, rng = pr
    w = rng.standard_normal((runs, problem.dim))
    g = problem.grad(w)
    np.testing.assert_allclose(g, _fd(problem.value, w), rtol=1e-6, atol=1e-6)
    h = problem.hessian(w)
    fd_h = np.stack([_fd(lambda v: problem.grad(v)[..., i], w) for i in range(problem.dim)], axis=-2)
    np.testing.assert_allclose(h, fd_h, rtol=1e-6, atol=1e-6)
    idx = rng.integers(0, problem.n_samples, size=(runs, 3))
    np.testing.assert_allclose(problem.grad(w, idx), _fd(lambda v: problem.value(v, idx), w), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.mean(problem.per_sample_grads(w), axis=-2), g, rtol=1e-12, atol=1e-12)
    fd_hb = np.stack([_fd(lambda v: problem.grad(v, idx)[..., i], w) for i in range(problem.dim)], axis=-2)
    np.testing.assert_allclose(problem.hessian(w, idx), fd_hb, rtol=1e-6, atol=1e-6)


@settings(max_examples=30)
@given(pr=problems(), runs=st.integers(2, 40), dtype=st.sampled_from([np.float32, np.float64]))
def test_batched_equals_one_at_a_time(pr, runs, dtype):
    problem, rng = pr
    w = rng.standard_normal((runs, problem.dim)).astype(dtype)
    idx = rng.integers(0, problem.n_samples, size=(runs, 5))
    for r in range(runs):
        assert np.array_equal(problem.value(w)[r], problem.value(w[r]))
        assert np.array_equal(problem.grad(w)[r], problem.grad(w[r]))
        assert np.array_equal(problem.grad(w, idx)[r], problem.grad(w[r], idx[r]))
    assert problem.grad(w).dtype == dtype and problem.value(w).dtype == dtype


def test_batched_equals_single_for_many_samples():
    rng = np.random.default_rng(0)
    problem = LinearRegression(rng.standard_normal(1000), rng.standard_normal(1000))
    w = rng.standard_normal((300, 2))
    v, g = problem.value(w), problem.grad(w)
    assert all(np.array_equal(v[r], problem.value(w[r])) and np.array_equal(g[r], problem.grad(w[r]))
               for r in range(300))


def test_seed_problem_numbers():
    p = LinearRegression.seed(20)
    xs = np.arange(1, 21.0)
    assert p.dim == 2 and p.n_samples == 20
    assert p.value(np.zeros(2)) == pytest.approx(np.mean((xs / 2) ** 2))
    np.testing.assert_allclose(p.hessian(np.zeros(2)), 2 * np.array([[np.mean(xs ** 2), np.mean(xs)],
                                                                      [np.mean(xs), 1.0]]))
    np.testing.assert_allclose(p.minimizer, [0.5, 0.0], atol=1e-12)
    assert p.minimum_value < 1e-25
    w = np.array([0.3, -0.2])
    assert p.value(w) == pytest.approx(np.mean((w[0] * xs + w[1] - xs / 2) ** 2))
    np.testing.assert_allclose(p.predict(np.array([0.5, 0.0]), np.array([25.0])), [12.5])
    assert p.minima.shape == (1, 2)
    lo, hi = p.box
    assert np.all(lo < p.minimizer) and np.all(p.minimizer < hi)


def test_minibatch_value_is_mean_over_selected_samples():
    p = LinearRegression.seed(10)
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    idx = np.array([[0, 0, 9], [1, 2, 3]])
    r = p.residuals(w)
    expected = [np.mean(r[0, [0, 0, 9]] ** 2), np.mean(r[1, [1, 2, 3]] ** 2)]
    np.testing.assert_allclose(p.value(w, idx), expected)
    # one shared batch broadcasts over runs
    np.testing.assert_allclose(p.value(w, np.array([0, 1])), np.mean(r[:, :2] ** 2, axis=-1))


def test_gradient_noise_covariance_matches_sampling():
    rng = np.random.default_rng(5)
    p = LinearRegression(rng.standard_normal(30), rng.standard_normal(30))
    w = np.array([0.7, -0.3])
    full = p.grad(w)
    for replace, B in [(True, 4), (False, 4), (False, 30)]:
        if replace:
            idx = rng.integers(0, 30, size=(40000, B))
        else:
            idx = np.argsort(rng.random((40000, 30)), axis=1)[:, :B]
        gs = p.grad(np.broadcast_to(w, (40000, 2)), idx)
        emp = np.cov((gs - full).T, bias=True)
        cov = p.gradient_noise_covariance(w, B, replace=replace)
        np.testing.assert_allclose(emp, cov, rtol=0.05, atol=1e-10)
    assert np.all(p.gradient_noise_covariance(w, 30) == 0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same number of samples"):
        LinearRegression(np.ones(3), np.ones(4))
    p = LinearRegression.seed(5)
    with pytest.raises(ValueError, match=r"params must have shape \(\.\.\., 2\)"):
        p.value(np.zeros(3))
    with pytest.raises(ValueError, match="idx must be in"):
        p.value(np.zeros(2), np.array([5]))
    with pytest.raises(TypeError, match="idx"):
        p.value(np.zeros(2), np.array([0.5]))
    with pytest.raises(ValueError, match="batch_size"):
        p.gradient_noise_covariance(np.zeros(2), 6)
