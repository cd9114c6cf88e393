"""Hessian-vector products, Lanczos, preconditioners and the sharpness recorders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gdsim import curvature, optim, problems, simulate, surfaces
from gdsim.nn.layers import Activation, Dense
from gdsim.nn.model import Sequential
from gdsim.studies.xs_ys import stability


class GradientOnly:
    """A problem without a Hessian: problem_hvp must fall back to central differences."""

    def __init__(self, problem):
        self.dim, self.grad = problem.dim, problem.grad


def _relative(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(1e-300, np.max(np.abs(b)))


def _tanh_net(n_in=2, hidden=4, n_out=1, seed=0, activation="tanh", loss="half_mean_squared_error"):
    model = Sequential([Dense(hidden, activation, input_shape=(n_in,)), Dense(hidden),
                        Activation("sigmoid"), Dense(n_out)], seed=seed, dtype="float64")
    model.build()
    model.compile(optim.SGD(0.1), loss)
    return model


def _data(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.standard_normal((n, n_out))


# ------------------------------------------------------------------ surfaces and problems
@pytest.mark.parametrize("name", ["rosenbrock", "beale", "himmelblau", "six_hump_camel", "double_well",
                                  "saddle", "rastrigin", "styblinski_tang"])
def test_central_hvp_matches_the_exact_hessian_of_every_surface(name):
    surface = surfaces.get(name)
    rng = np.random.default_rng(0)
    lo, hi = surface.box
    for _ in range(5):
        point = lo + (hi - lo) * rng.random(surface.dim)
        v = rng.standard_normal(surface.dim)
        exact = surface.hessian(point) @ v
        np.testing.assert_allclose(curvature.problem_hvp(surface, point)(v), exact, rtol=1e-12, atol=0)
        assert _relative(curvature.problem_hvp(GradientOnly(surface), point)(v), exact) < 1e-8


def test_regression_sharpness_is_288_54_from_exact_and_central_products():
    problem = problems.LinearRegression.seed(20)
    want = stability.regression_stability(np.arange(1.0, 21.0), 0.01)["lambda_max"]
    assert round(want, 2) == 288.54
    w = np.array([0.3, -0.2])
    for source in (problem, GradientOnly(problem)):
        got = curvature.sharpness(curvature.problem_hvp(source, w), 2)
        assert abs(got - want) / want < 1e-8


def test_lambda_max_of_the_xs_ys_model_through_the_public_gradient():
    model = Sequential([Dense(1, input_shape=(1,))], dtype="float64")
    model.compile("sgd", "mean_squared_error")
    xs = np.arange(1.0, 21.0)
    for method in ("central", "complex"):
        got = curvature.model_sharpness(model, xs, xs / 2, method=method, iterations=2)
        assert abs(got - 288.5418) / 288.54 < 1e-5
        assert abs(got - stability.regression_stability(xs, 0.01)["lambda_max"]) / 288.54 < 1e-8


def test_minibatch_hessian_of_the_regression_is_2_mean_a_a_transpose():
    problem = problems.LinearRegression.seed(20)
    idx = np.array([0, 4, 19])
    a = np.stack([problem.x[idx, 0], np.ones(3)], axis=1)
    v = np.array([0.7, -1.3])
    want = 2 * a.T @ a / 3 @ v
    for source in (problem, GradientOnly(problem)):  # exact, then central differences
        assert _relative(curvature.problem_hvp(source, [0.1, 0.2], idx=idx)(v), want) < 1e-8


# ------------------------------------------------------------------ networks
def _full_hessian(matvec, dim):
    return np.column_stack([matvec(np.eye(dim)[j]) for j in range(dim)])


def test_full_hessian_of_a_small_network_column_by_column():
    model = _tanh_net()
    x, y = _data(7, 2, 1, 1)
    dim = curvature.flat_weights(model).size
    exact = _full_hessian(curvature.model_hvp(model, x, y, method="complex"), dim)
    np.testing.assert_allclose(exact, exact.T, rtol=0, atol=1e-13 * np.abs(exact).max())
    central = _full_hessian(curvature.model_hvp(model, x, y), dim)
    assert _relative(central, exact) < 1e-8
    rng = np.random.default_rng(2)
    v = rng.standard_normal(dim)
    assert _relative(curvature.model_hvp(model, x, y)(v), exact @ v) < 1e-8
    values, vectors = curvature.top_eigenvalues(curvature.model_hvp(model, x, y, method="complex"), dim,
                                                k=2, iterations=dim)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(exact)[::-1][:2], rtol=1e-9)
    bottom, _ = curvature.bottom_eigenvalue(curvature.model_hvp(model, x, y), dim, iterations=dim)
    assert abs(bottom - np.linalg.eigvalsh(exact)[0]) < 1e-8 * np.abs(exact).max()


@settings(max_examples=15, deadline=None)
@given(n_in=st.integers(1, 3), hidden=st.integers(1, 6), n_out=st.integers(1, 2), n=st.integers(1, 9),
       seed=st.integers(0, 2**16), half=st.booleans())
def test_complex_step_agrees_with_central_differences(n_in, hidden, n_out, n, seed, half):
    model = _tanh_net(n_in, hidden, n_out, seed, loss="half_mean_squared_error" if half else "mse")
    x, y = _data(n, n_in, n_out, seed + 1)
    weights = [w.copy() for w in model.get_weights()]
    v = np.random.default_rng(seed).standard_normal(curvature.flat_weights(model).size)
    exact = curvature.model_hvp(model, x, y, method="complex")(v)
    central = curvature.model_hvp(model, x, y)(v)
    assert np.max(np.abs(central - exact)) <= 1e-7 * max(1.0, np.max(np.abs(exact)))
    for before, after in zip(weights, model.get_weights()):  # nothing moved
        assert np.array_equal(before, after)


def test_complex_step_is_refused_for_a_non_holomorphic_layer_or_loss():
    model = _tanh_net(activation="relu")
    x, y = _data(4, 2, 1, 0)
    with pytest.raises(ValueError, match="layer 'dense'.*'relu'"):
        curvature.model_hvp(model, x, y, method="complex")
    classifier = _tanh_net(n_out=2, loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="mean squared error"):
        curvature.model_hvp(classifier, x, np.eye(2)[[0, 1, 0, 1]], method="complex")


def test_bad_arguments_are_named():
    model32 = Sequential([Dense(1, input_shape=(1,))])
    model32.compile("sgd", "mse")
    with pytest.raises(ValueError, match="float64"):
        curvature.model_hvp(model32, np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="method"):
        curvature.model_hvp(model32, np.ones(3), np.ones(3), method="forward")
    with pytest.raises(ValueError, match="k must be <= dim"):
        curvature.top_eigenvalues(lambda v: v, 3, k=4)
    with pytest.raises(ValueError, match="iterations must be >= k"):
        curvature.top_eigenvalues(lambda v: v, 5, k=3, iterations=2)
    with pytest.raises(TypeError, match="matvec must be a function"):
        curvature.sharpness(np.eye(3), 3)
    with pytest.raises(ValueError, match="matvec must return shape"):
        curvature.top_eigenvalues(lambda v: v[:2], 5)


# ------------------------------------------------------------------ Lanczos
@settings(max_examples=40, deadline=None)
@given(dim=st.integers(1, 40), k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_lanczos_matches_eigvalsh(dim, k, seed):
    k = min(k, dim)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dim, dim))
    a = (a + a.T) / 2
    scale = max(1.0, np.abs(np.linalg.eigvalsh(a)).max())
    want = np.linalg.eigvalsh(a)
    values, vectors = curvature.top_eigenvalues(lambda v: a @ v, dim, k, seed=seed, iterations=dim)
    np.testing.assert_allclose(values, want[::-1][:k], rtol=0, atol=1e-8 * scale)
    assert np.max(np.abs(a @ vectors - vectors * values)) < 1e-7 * scale
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-10)
    bottom, vector = curvature.bottom_eigenvalue(lambda v: a @ v, dim, seed=seed, iterations=dim)
    assert abs(bottom - want[0]) < 1e-8 * scale


def test_lanczos_converges_on_the_top_with_few_iterations_and_is_seeded():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    spectrum = np.concatenate([[50.0, 30.0], rng.random(298) * 10])
    a = (q * spectrum) @ q.T
    values, _ = curvature.top_eigenvalues(lambda v: a @ v, 300, 2, iterations=30)
    np.testing.assert_allclose(values, [50.0, 30.0], rtol=1e-8)
    again, _ = curvature.top_eigenvalues(lambda v: a @ v, 300, 2, iterations=30)
    assert np.array_equal(values, again)


# ------------------------------------------------------------------ preconditioners, thresholds
def _steps(opt, w, grads):
    state = opt.init(w)
    for g in grads:
        w, state = opt.step(w, g, state)
    return w, state


@pytest.mark.parametrize("opt", [optim.Adam(0.01), optim.Adam(0.01, epsilon=0.1), optim.Adam(0.01, amsgrad=True),
                                 optim.RMSprop(0.01), optim.RMSprop(0.01, centered=True)])
def test_preconditioner_is_the_denominator_of_the_keras_step(opt):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(6)
    grads = rng.standard_normal((5, 6))
    w4, state4 = _steps(opt, w0, grads[:4])
    w5, state5 = opt.step(w4, grads[4], state4)
    p = curvature.preconditioner(opt, state5)[0]
    if isinstance(opt, optim.Adam):
        mhat = state5.slots["m"][0] / (1 - 0.9 ** 5)
        np.testing.assert_allclose(w5, w4 - 0.01 * mhat / p, rtol=1e-12)
    else:
        np.testing.assert_allclose(w5, w4 - 0.01 * grads[4] / p, rtol=1e-12)
    with pytest.raises(ValueError, match="0 completed steps"):
        curvature.preconditioner(opt, opt.init(w0))


def test_preconditioned_sharpness_is_the_top_eigenvalue_of_p_inverse_h():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((8, 8))
    h = a @ a.T
    p = rng.random(8) + 0.1
    got = curvature.sharpness(curvature.preconditioned(lambda v: h @ v, p), 8, iterations=8)
    want = np.max(np.linalg.eigvals(h / p[:, None]).real)
    assert abs(got - want) / want < 1e-10
    with pytest.raises(ValueError, match="diagonal must be > 0"):
        curvature.preconditioned(lambda v: v, -p)


@pytest.mark.parametrize("opt", [optim.SGD(0.1), optim.SGD(0.1, momentum=0.9), optim.SGD(0.05, momentum=0.5),
                                 optim.SGD(0.1, momentum=0.9, nesterov=True)])
def test_stability_threshold_separates_convergence_from_divergence_on_a_quadratic(opt):
    threshold = curvature.stability_threshold(opt)
    for factor, stable in ((0.99, True), (1.01, False)):
        quadratic = surfaces.Quadratic([threshold * factor, 1.0])
        traj = simulate.run(quadratic, opt, x0=[1.0, 1.0], steps=3000, record="final")
        assert (abs(traj.final_params[0]) < 1) == stable


def test_adam_threshold_is_38_over_lr():
    assert curvature.stability_threshold(optim.Adam(0.01)) == pytest.approx(3800.0)
    assert curvature.stability_threshold(optim.RMSprop(0.01)) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="scalar learning_rate"):
        curvature.stability_threshold(optim.SGD(np.array([0.1, 0.2])))


# ------------------------------------------------------------------ recorders
def test_sharpness_callback_records_into_the_history_without_touching_training():
    x, y = _data(10, 2, 1, 4)
    plain, watched = _tanh_net(seed=3), _tanh_net(seed=3)
    plain.fit(x, y, batch_size=10, epochs=9, verbose=0, shuffle=False)
    recorder = curvature.SharpnessCallback(x, y, every=4)
    history = watched.fit(x, y, batch_size=10, epochs=9, verbose=0, shuffle=False, callbacks=[recorder])
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        assert np.array_equal(a, b)
    assert recorder.steps == [0, 4, 8, 9]
    column = np.array(history.history["sharpness"])
    assert column.shape == (9,) and np.isnan(column[[1, 2, 3, 5, 6, 7]]).all()
    np.testing.assert_array_equal(column[[0, 4, 8]], recorder.values[:3])
    final = curvature.model_sharpness(watched, x, y)
    assert recorder.values[-1] == final


def test_preconditioned_callback_waits_for_the_first_step():
    x, y = _data(10, 2, 1, 4)
    model = _tanh_net()
    model.compile(optim.Adam(0.01), "half_mean_squared_error")
    recorder = curvature.SharpnessCallback(x, y, every=2, preconditioned=True)
    model.fit(x, y, batch_size=10, epochs=4, verbose=0, shuffle=False, callbacks=[recorder])
    assert np.isnan(recorder.values[0]) and np.isfinite(recorder.values[1:]).all()
    p = curvature.preconditioner(model.optimizer, model.optimizer_state)
    h = curvature.model_hvp(model, x, y)
    want = curvature.sharpness(curvature.preconditioned(h, p), curvature.flat_weights(model).size, iterations=20)
    assert recorder.values[-1] == pytest.approx(want, rel=1e-12)


def test_simulate_observe_records_the_sharpness_along_the_trajectory(tmp_path):
    surface = surfaces.get("rosenbrock")
    observer = {"sharpness": curvature.sharpness_observer(surface)}
    x0 = np.array([[-1.5, 2.0], [0.5, 0.5]])
    traj = simulate.run(surface, optim.Adam(0.05), x0, steps=40, record=10, observe=observer)
    want = np.linalg.eigvalsh(surface.hessian(traj.params))[..., -1]
    np.testing.assert_allclose(traj.observed["sharpness"], want, rtol=1e-10)
    path = tmp_path / "ck.npz"
    simulate.run(surface, optim.Adam(0.05), x0, steps=40, record=10, observe=observer,
                 checkpoint=path, checkpoint_every=20)
    resumed = simulate.run(surface, optim.Adam(0.05), x0, steps=40, record=10, observe=observer,
                           resume=path)
    assert np.array_equal(resumed.observed["sharpness"], traj.observed["sharpness"])
    with pytest.raises(TypeError, match="observe must map names"):
        simulate.run(surface, "sgd", x0, steps=1, observe={"s": 3})


def test_curvature_is_a_core_module():
    import subprocess
    import sys

    code = "import sys, gdsim.curvature; print(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not {m for m in loaded if m.startswith("gdsim.studies")}
    assert not {m.split(".")[0] for m in loaded} & {"keras", "jax", "torch", "matplotlib", "scipy"}


def test_sgd_has_no_preconditioner_to_derive():
    with pytest.raises(TypeError, match="Adam or RMSprop"):
        curvature.preconditioner(optim.SGD(0.1, momentum=0.9), optim.SGD(0.1, momentum=0.9).init(np.zeros(2)))
