"""gdsim.analysis: stability thresholds and rates checked by measurement (gdsim.simulate)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import analysis, optim, simulate


class Diagonal:
    """f(x) = 1/2 sum(lam_i x_i^2)."""

    def __init__(self, lam):
        self.lam = np.asarray(lam, dtype=float)
        self.dim = self.lam.size

    def __repr__(self):
        return f"Diagonal({self.lam.tolist()})"

    def value(self, x):
        return 0.5 * np.sum(self.lam * x * x, axis=-1)

    def grad(self, x):
        return self.lam * x

    def hessian(self, x):
        return np.broadcast_to(np.diag(self.lam), np.shape(x)[:-1] + (self.dim, self.dim))


@settings(max_examples=40)
@given(lams=st.lists(st.floats(0.01, 100), min_size=1, max_size=4), ratio=st.floats(0.05, 0.97) | st.floats(1.03, 1.9))
def test_critical_lr_separates_convergence_from_divergence(lams, ratio):
    problem = Diagonal(lams)
    lam_max = analysis.hessian_eigenvalues(problem, np.zeros(problem.dim))[-1]
    lr = ratio * analysis.critical_lr(lam_max)
    factors = analysis.gd_growth_factors(lr, problem.lam)
    steps = int(min(3000, 80 / abs(np.log(max(abs(1 - lr * lam_max), 1e-300))))) + 1
    tr = simulate.run(problem, optim.SGD(lr), np.ones(problem.dim), steps, record="final")
    # atol: a fast-contracting direction underflows to subnormals differently than factor**steps
    np.testing.assert_allclose(np.abs(tr.final_params), factors ** steps, rtol=1e-8, atol=1e-280)
    big = np.abs(tr.final_params[np.argmax(problem.lam)])
    assert (big > 1) == (ratio > 1)


@settings(max_examples=60)
@given(lr=st.floats(1e-3, 2), beta=st.floats(0, 0.99), lam=st.floats(0.01, 10))
def test_heavy_ball_spectral_radius_is_the_matrix_radius_and_the_measured_rate(lr, beta, lam):
    m = analysis.heavy_ball_iteration_matrix(lr, beta, lam)
    rho = analysis.heavy_ball_spectral_radius(lr, beta, lam)
    assert rho == pytest.approx(np.max(np.abs(np.linalg.eigvals(m))), rel=1e-6, abs=1e-9)
    x_prev = x = 1.0
    xs = [x]
    for _ in range(60):
        x_prev, x = x, x + beta * (x - x_prev) - lr * lam * x
        xs.append(x)
    tr = simulate.run(Diagonal([lam]), optim.SGD(lr, momentum=beta), np.ones(1), 60)
    np.testing.assert_allclose(tr.params[:, 0], xs, rtol=1e-9, atol=1e-12 * np.max(np.abs(xs)))


@pytest.mark.parametrize("kappa", [10.0, 50.0, 400.0])
def test_optimal_rates_table_by_measurement(kappa):
    mu, L = 1.0, kappa
    problem = Diagonal(np.linspace(mu, L, 5))
    lr, rate = analysis.gd_optimal(mu, L)
    assert rate == pytest.approx((kappa - 1) / (kappa + 1))
    steps = 400
    gd = simulate.run(problem, optim.SGD(lr), np.ones(5), steps)
    err = np.linalg.norm(gd.params, axis=-1)
    assert analysis.convergence_rate(err, 100, steps) == pytest.approx(rate, rel=1e-2)
    lr, beta = analysis.polyak_optimal(mu, L)
    hb_rate = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
    assert analysis.heavy_ball_spectral_radius(lr, beta, np.array([mu, L])) == pytest.approx([hb_rate] * 2)
    hb = simulate.run(problem, optim.SGD(lr, momentum=beta), np.ones(5), steps)
    err = np.linalg.norm(hb.params, axis=-1)
    assert analysis.convergence_rate(err, 100, steps) == pytest.approx(hb_rate, rel=1e-2)


def test_escape_fraction():
    minima = np.array([[0.0, 0.0], [5.0, 5.0]])
    final = np.array([[[0.1, 0.0], [4.0, 4.0]], [[np.nan, 0.0], [-0.3, 0.2]]])
    assert analysis.escape_fraction(final, minima) == pytest.approx(0.5)
    np.testing.assert_allclose(analysis.escape_fraction(final, minima, axis=-1), [0.5, 0.5])
    np.testing.assert_allclose(analysis.escape_fraction(final, minima, start_index=1, axis=0), [1.0, 0.5])


def test_bad_arguments():
    with pytest.raises(ValueError, match="lambda_max must be > 0"):
        analysis.critical_lr(0.0)
    with pytest.raises(ValueError, match="L must be >= mu"):
        analysis.polyak_optimal(2.0, 1.0)
    with pytest.raises(ValueError, match="stop"):
        analysis.convergence_rate(np.ones(5), 1, 5)
