"""gdsim.studies.xs_ys.stability: the xs/ys loss Hessian in closed form, checked by measurement."""

import numpy as np
import pytest

from gdsim import analysis, optim, simulate
from gdsim.problems import LinearRegression
from gdsim.studies.xs_ys import stability


def test_seed_regression_numbers():
    r = stability.regression_stability(np.arange(1, 21.0), 0.01)
    assert r["lambda_max"] == pytest.approx(288.539057, rel=1e-8)
    assert r["critical_lr"] == pytest.approx(0.006931471, rel=1e-6)
    assert r["loss_ratio"] == pytest.approx(3.5547, abs=1e-4)
    assert r["converges"] is False
    assert stability.regression_stability(np.arange(1, 21.0), 1e-4)["converges"] is True
    # the loss of GD from 0 grows by loss_ratio per epoch (asymptotically), as in Keras's output
    tr = simulate.run(LinearRegression.seed(20), optim.SGD(0.01), np.zeros(2), 30)
    assert tr.loss[30] / tr.loss[29] == pytest.approx(r["loss_ratio"], rel=1e-9)


def test_max_converging_n_is_16_at_lr_0_01_and_gd_agrees():
    assert stability.max_converging_n(0.01) == 16
    assert stability.regression_stability(np.arange(1, 17.0), 0.01)["converges"]
    assert not stability.regression_stability(np.arange(1, 18.0), 0.01)["converges"]
    for n, grows in [(16, False), (17, True)]:
        tr = simulate.run(LinearRegression.seed(n), optim.SGD(0.01), np.zeros(2), 400, record="final")
        assert (tr.final_loss > 1.0) == grows
    lrs = np.array([1e-4, 1e-3, 0.01, 0.1])
    ns = [stability.max_converging_n(lr) for lr in lrs]
    assert ns == sorted(ns, reverse=True) and ns[0] == 172


def test_regression_hessian_matches_problem_hessian():
    xs = np.array([0.5, 1.0, 3.0, -2.0])
    p = LinearRegression(xs, xs * 0.3)
    np.testing.assert_allclose(stability.regression_hessian(xs), p.hessian(np.zeros(2)))
    np.testing.assert_allclose(analysis.hessian_eigenvalues(p, np.zeros((3, 2))),
                               np.tile(np.linalg.eigvalsh(p.hessian(np.zeros(2))), (3, 1)))
    r = stability.regression_stability(xs, 0.1)
    np.testing.assert_allclose([r["lambda_min"], r["lambda_max"]], np.linalg.eigvalsh(stability.regression_hessian(xs)))


def test_bad_learning_rates_name_themselves():
    with pytest.raises(ValueError, match="lr must be > 0"):
        stability.max_converging_n(-0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        stability.regression_stability(np.arange(1.0, 4.0), [0.1, 0.0])
