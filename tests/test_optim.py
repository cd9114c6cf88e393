"""Properties of gdsim.optim: closed-form recurrences, stability thresholds, purity,
broadcasting over runs, state files."""

import os

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gdsim import optim

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
rates = st.floats(1e-4, 0.5)
momenta = st.floats(0.0, 0.99)


def _quadratic_run(opt, lam, x0, steps):
    """Minimize f(x) = 0.5*sum(lam*x^2) with exact gradients; returns the iterates."""
    x = np.asarray(x0, dtype=np.float64)
    state = opt.init(x)
    xs = [x]
    for _ in range(steps):
        x, state = opt.step(x, lam * x, state)
        xs.append(x)
    return np.array(xs)


@settings(max_examples=40)
@given(lr=rates, w=st.lists(finite, min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_sgd_momentum_zero_is_plain_gd_exactly(lr, w, seed):
    rng = np.random.default_rng(seed)
    w = np.array(w)
    opt = optim.SGD(learning_rate=lr, momentum=0)
    state = opt.init(w)
    x = w
    for _ in range(5):
        g = rng.standard_normal(w.shape)
        expected = x - lr * g
        x, state = opt.step(x, g, state)
        assert np.array_equal(x, expected)
    assert state.slots == {}
    # a 0-d zero-momentum array is plain GD too: same bits, no velocity slot
    opt_arr = optim.SGD(learning_rate=lr, momentum=np.zeros(()))
    y, state_arr = w, opt_arr.init(w)
    replay = np.random.default_rng(0)
    for _ in range(5):
        g = replay.standard_normal(w.shape)
        y, state_arr = opt_arr.step(y, g, state_arr)
    assert state_arr.slots == {}
    z = w
    replay = np.random.default_rng(0)
    for _ in range(5):
        z = z - lr * replay.standard_normal(w.shape)
    assert np.array_equal(y, z)


@settings(max_examples=40)
@given(lr=rates, g=st.lists(st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3), min_size=1, max_size=6))
def test_adam_first_step_is_lr_times_sign(lr, g):
    g = np.array(g)
    w0 = np.zeros_like(g)
    opt = optim.Adam(learning_rate=lr)
    w1, state = opt.step(w0, g, opt.init(w0))
    # |step| = lr*|g|/(|g| + eps/sqrt(1-b2)) -> lr*sign(g) up to the epsilon term
    np.testing.assert_allclose(w1, -lr * np.sign(g), rtol=1e-7 / np.sqrt(1 - 0.999) / 1e-3 + 1e-12)
    assert np.all(np.sign(w1) == -np.sign(g))
    assert int(state.iterations) == 1


@settings(max_examples=40)
@given(lr=rates, beta=momenta, lam=st.floats(0.01, 10), x0=finite.filter(lambda v: abs(v) > 1e-3))
def test_heavy_ball_and_nesterov_match_linear_recurrences(lr, beta, lam, x0):
    steps = 30
    hb = _quadratic_run(optim.SGD(lr, momentum=beta), lam, [x0], steps)[:, 0]
    nag = _quadratic_run(optim.SGD(lr, momentum=beta, nesterov=True), lam, [x0], steps)[:, 0]
    # heavy ball: x_{k+1} = x_k + beta*(x_k - x_{k-1}) - lr*lam*x_k, x_{-1} = x_0
    # Nesterov (Keras form): v_{k+1} = beta*v_k - lr*lam*x_k ; x_{k+1} = x_k + beta*v_{k+1} - lr*lam*x_k
    x_prev, x = x0, x0
    v, y = 0.0, x0
    ref_hb, ref_nag = [x0], [x0]
    for _ in range(steps):
        x_prev, x = x, x + beta * (x - x_prev) - lr * lam * x
        v = beta * v - lr * lam * y
        y = y + beta * v - lr * lam * y
        ref_hb.append(x)
        ref_nag.append(y)
    scale = np.maximum(np.abs(ref_hb), abs(x0))
    np.testing.assert_allclose(hb / scale, np.array(ref_hb) / scale, rtol=0, atol=1e-12)
    scale = np.maximum(np.abs(ref_nag), abs(x0))
    np.testing.assert_allclose(nag / scale, np.array(ref_nag) / scale, rtol=0, atol=1e-12)


@settings(max_examples=40)
@example(lr=0.49999999999999994, lams=[2.00001], t=13)  # lr*lam near 1: a fixed rtol failed here
@given(lr=rates, lams=st.lists(st.floats(0.01, 10), min_size=1, max_size=4), t=st.integers(1, 40))
def test_gd_follows_one_minus_lr_lambda_power(lr, lams, t):
    lam = np.array(lams)
    x0 = np.ones_like(lam)
    xs = _quadratic_run(optim.GD(lr), lam, x0, t)
    # Each step x - lr*(lam*x) rounds with an error of about 3 eps (1 + lr*lam) |x|, and the
    # later steps scale it by |f|, f = 1 - lr*lam: after t steps the error is within
    # t * 6 eps (1 + lr*lam) * m**(t-1), m = |f| + 6 eps (1 + lr*lam). Relative to f**t that
    # is large when f is near 0 (lr*lam near 1: cancellation), and a fixed rtol fails there.
    f, step_error = 1 - lr * lam, 6 * np.finfo(float).eps * (1 + lr * lam)
    bound = t * step_error * (np.abs(f) + step_error) ** (t - 1)
    assert np.all(np.abs(xs[-1] - f ** t) <= 1e-10 * np.abs(f) ** t + bound + 1e-300)


@settings(max_examples=60)
@given(lam=st.floats(0.1, 100), ratio=st.floats(0.05, 0.95) | st.floats(1.05, 1.8))
def test_gd_diverges_above_two_over_lambda_and_converges_below(lam, ratio):
    lr = ratio * 2 / lam
    steps = int(np.ceil(60 / abs(np.log(max(abs(1 - lr * lam), 1e-300))))) + 1
    xs = _quadratic_run(optim.SGD(lr), np.array([lam]), np.array([1.0]), steps)
    if ratio < 1:
        assert abs(xs[-1, 0]) < 1e-20
    else:
        assert abs(xs[-1, 0]) > 1e20


def _measured_rate(xs):
    norms = np.linalg.norm(xs, axis=1)
    k0, k1 = 100, 300
    return (norms[k1] / norms[k0]) ** (1 / (k1 - k0))


@pytest.mark.parametrize("kappa", [4.0, 25.0, 100.0])
def test_polyak_table_rates(kappa):
    """GD at 2/(L+mu) contracts by (kappa-1)/(kappa+1); heavy ball at Polyak's optimum by
    (sqrt(kappa)-1)/(sqrt(kappa)+1) -- measured on a quadratic, within 1%."""
    mu, L = 1.0, kappa
    lam = np.linspace(mu, L, 7)
    x0 = np.ones(7)
    gd = _quadratic_run(optim.SGD(2 / (L + mu)), lam, x0, 300)
    assert _measured_rate(gd) == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-2)
    lr = 4 / (np.sqrt(L) + np.sqrt(mu)) ** 2
    beta = ((np.sqrt(L) - np.sqrt(mu)) / (np.sqrt(L) + np.sqrt(mu))) ** 2
    hb = _quadratic_run(optim.SGD(lr, momentum=beta), lam, x0, 300)
    assert _measured_rate(hb) == pytest.approx((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1), rel=1e-2)


OPTIMIZERS = [
    lambda lr: optim.SGD(lr),
    lambda lr: optim.SGD(lr, momentum=0.9),
    lambda lr: optim.SGD(lr, momentum=0.5, nesterov=True),
    lambda lr: optim.Adam(lr),
    lambda lr: optim.Adam(lr, amsgrad=True),
    lambda lr: optim.RMSprop(lr, momentum=0.3, centered=True),
    lambda lr: optim.Adagrad(lr),
    lambda lr: optim.Adam(lr, clipnorm=0.5),
    lambda lr: optim.SGD(lr, global_clipnorm=0.5, weight_decay=0.1),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hyperparameter_arrays_equal_separate_runs(make, dtype):
    rng = np.random.default_rng(7)
    lrs = np.array([0.001, 0.01, 0.1, 0.3])
    x0 = rng.standard_normal((4, 3)).astype(dtype)
    b0 = rng.standard_normal((4,)).astype(dtype)
    grads = [[rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)]
             for _ in range(6)]
    opt = make(lrs)
    params = [x0, b0]
    state = opt.init(params)
    for g in grads:
        params, state = opt.step(params, g, state)
    for r, lr in enumerate(lrs):
        single = make(float(lr))
        p = [x0[r], b0[r]]
        s = single.init(p)
        for g in grads:
            p, s = single.step(p, [g[0][r], g[1][r]], s)
        assert params[0].dtype == dtype
        assert np.array_equal(params[0][r], p[0]) and np.array_equal(params[1][r], p[1])


def test_momentum_array_over_runs_equals_separate_runs():
    betas = np.array([0.0, 0.5, 0.9])
    x = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]])
    opt = optim.SGD(0.1, momentum=betas, nesterov=True)
    state = opt.init(x)
    xs = x
    for _ in range(5):
        xs, state = opt.step(xs, 2 * xs, state)
    for r, b in enumerate(betas):
        single = optim.SGD(0.1, momentum=float(b), nesterov=True)
        y, s = x[r], single.init(x[r])
        for _ in range(5):
            y, s = single.step(y, 2 * y, s)
        assert np.array_equal(xs[r], y)


def test_hyperparameter_shape_must_prefix_param_shape():
    opt = optim.SGD(np.array([0.1, 0.2, 0.3]))
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="learning_rate has shape \\(3,\\)"):
        opt.step(x, x, opt.init(x))


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_step_is_pure_and_list_in_list_out(make):
    params = [np.array([1.0, 2.0]), np.array([[0.5]])]
    grads = [np.array([0.3, -0.1]), np.array([[2.0]])]
    opt = make(0.1)
    state = opt.init(params)
    before = [p.copy() for p in params], [g.copy() for g in grads], optim.OptState(
        state.iterations.copy(), {k: [a.copy() for a in v] for k, v in state.slots.items()})
    new_params, new_state = opt.step(params, grads, state)
    assert isinstance(new_params, list) and len(new_params) == 2
    assert all(np.array_equal(a, b) for a, b in zip(params, before[0]))
    assert all(np.array_equal(a, b) for a, b in zip(grads, before[1]))
    assert state == before[2]
    assert int(new_state.iterations) == 1 and not np.array_equal(new_params[0], params[0])
    single, _ = opt.step(params[0], grads[0], opt.init(params[0]))
    assert isinstance(single, np.ndarray)


def test_float32_stays_float32():
    for make in OPTIMIZERS:
        p = np.ones(3, np.float32)
        opt = make(0.1)
        q, s = opt.step(p, np.ones(3), opt.init(p))
        assert q.dtype == np.float32
        assert all(a.dtype == np.float32 for v in s.slots.values() for a in v)


def test_schedule_is_evaluated_at_current_iterations():
    seen = []

    def schedule(t):
        seen.append(int(t))
        return 0.1 / (1 + int(t))

    opt = optim.SGD(schedule)
    x = np.array([1.0])
    state = opt.init(x)
    for _ in range(3):
        x, state = opt.step(x, np.array([1.0]), state)
    assert seen == [0, 1, 2]
    assert x[0] == pytest.approx(1 - 0.1 - 0.05 - 0.1 / 3)


@pytest.mark.parametrize("bad,match", [
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
    (dict(learning_rate=-1), "learning_rate must be > 0"),
    (dict(momentum=1.5), r"momentum must be in \[0.0, 1.0\]"),
    (dict(momentum=np.array([0.1, 2.0])), "momentum must be in"),
    (dict(learning_rate=np.array([0.1, np.nan])), "learning_rate must be finite"),
])
def test_bad_hyperparameters_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        optim.SGD(**bad)


def test_bad_adam_and_rmsprop_arguments():
    with pytest.raises(ValueError, match="beta_1"):
        optim.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        optim.Adam(epsilon=0)
    with pytest.raises(ValueError, match="rho"):
        optim.RMSprop(rho=-0.1)
    with pytest.raises(ValueError, match="only one of"):
        optim.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(TypeError, match="nesterov"):
        optim.SGD(nesterov=1)
    with pytest.raises(TypeError, match="learning_rate"):
        optim.SGD(learning_rate="fast")


def test_int_momentum_accepted_unlike_keras():
    assert optim.SGD(momentum=1).momentum == 1.0
    assert optim.SGD(momentum=0)._slots_for() == ()


def test_get_and_config_and_repr():
    assert isinstance(optim.get("ADAM"), optim.Adam)
    assert optim.get("sgd").get_config()["learning_rate"] == 0.01
    opt = optim.RMSprop(0.01, centered=True)
    assert optim.get(opt) is opt
    assert optim.RMSprop.from_config(opt.get_config()).get_config() == opt.get_config()
    assert "centered=True" in repr(opt) and "learning_rate=0.01" in repr(opt)
    assert optim.GD is optim.SGD
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        optim.get("adma")
    with pytest.raises(TypeError):
        optim.get(3)
    defaults = optim.Adam().get_config()
    assert (defaults["beta_1"], defaults["beta_2"], defaults["epsilon"], defaults["amsgrad"]) == (
        0.9, 0.999, 1e-7, False)
    assert optim.Adagrad().get_config()["initial_accumulator_value"] == 0.1


def test_state_mismatch_is_reported():
    opt = optim.Adam()
    x = np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        opt.step(x, x, opt.init(np.zeros(4)))
    with pytest.raises(ValueError, match="slots"):
        opt.step(x, x, optim.SGD(momentum=0.5).init(x))
    with pytest.raises(ValueError, match="grads"):
        opt.step(x, np.zeros(2), opt.init(x))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1), amsgrad=st.booleans())
def test_state_save_load_round_trip(tmp_path_factory, seed, amsgrad):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(4)]
    opt = optim.Adam(0.01, amsgrad=amsgrad)
    state = opt.init(params)
    for _ in range(3):
        params, state = opt.step(params, [rng.standard_normal((2, 3)), rng.standard_normal(4)], state)
    path = tmp_path_factory.mktemp("state") / "opt.npz"
    state.save(path)
    loaded = optim.OptState.load(path)
    assert loaded == state
    assert loaded.slots["m"][0].dtype == np.float32
    # continuing from the loaded state gives the same bits
    g = [np.ones((2, 3)), np.ones(4)]
    a, _ = opt.step(params, g, state)
    b, _ = opt.step(params, g, loaded)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not [f for f in os.listdir(path.parent) if f.startswith(".tmp-")]


def test_corrupt_state_file_gives_clear_error_and_is_untouched(tmp_path):
    opt = optim.SGD(momentum=0.9)
    state = opt.init(np.ones(5))
    path = tmp_path / "opt.npz"
    state.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    truncated = path.read_bytes()
    with pytest.raises(ValueError, match="opt.npz"):
        optim.OptState.load(path)
    assert path.read_bytes() == truncated
    other = tmp_path / "other.npz"
    np.savez(other, x=np.ones(3))
    with pytest.raises(ValueError, match="other.npz"):
        optim.OptState.load(other)


def test_to_from_arrays_prefix():
    opt = optim.RMSprop(momentum=0.5, centered=True)
    state = opt.init([np.ones(2), np.ones((1, 3))])
    arrays = state.to_arrays(prefix="model/opt/")
    assert "model/opt/iterations" in arrays and "model/opt/velocity/1" in arrays
    arrays["model/weights/0"] = np.zeros(2)
    assert optim.OptState.from_arrays(arrays, prefix="model/opt/") == state


def test_clipnorm_per_run_norms():
    g = np.array([[3.0, 4.0], [0.3, 0.4]])
    opt = optim.SGD(1.0, clipnorm=1.0)
    x = np.zeros((2, 2))
    out, _ = opt.step(x, g, opt.init(x), run_ndim=1)
    np.testing.assert_allclose(out, -np.array([[0.6, 0.8], [0.3, 0.4]]))
    out, _ = opt.step(x, g, opt.init(x))  # Keras: one norm over the whole array
    np.testing.assert_allclose(np.linalg.norm(out), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_hyperparameter_may_vary_over_runs(dtype):
    rng = np.random.default_rng(11)
    R = 6
    arrays = {
        optim.Adam: dict(learning_rate=rng.uniform(1e-3, 0.1, R), beta_1=rng.uniform(0, 0.99, R),
                         beta_2=rng.uniform(0.5, 0.9999, R), epsilon=rng.uniform(1e-8, 0.1, R)),
        optim.RMSprop: dict(learning_rate=rng.uniform(1e-3, 0.1, R), rho=rng.uniform(0, 0.99, R),
                            momentum=rng.uniform(0, 0.99, R), epsilon=rng.uniform(1e-8, 0.1, R)),
        optim.Adagrad: dict(learning_rate=rng.uniform(1e-3, 0.1, R),
                            initial_accumulator_value=rng.uniform(0, 1, R), epsilon=rng.uniform(1e-8, 0.1, R)),
        optim.SGD: dict(learning_rate=rng.uniform(1e-3, 0.1, R), momentum=rng.uniform(0, 0.99, R),
                        weight_decay=rng.uniform(0, 0.1, R)),
    }
    x0 = rng.standard_normal((R, 3)).astype(dtype)
    grads = [rng.standard_normal((R, 3)).astype(dtype) for _ in range(25)]
    for cls, kwargs in arrays.items():
        opt = cls(**kwargs)
        x, s = x0, opt.init(x0)
        for g in grads:
            x, s = opt.step(x, g, s)
        for r in range(R):
            single = cls(**{k: float(v[r]) for k, v in kwargs.items()})
            y, t = x0[r], single.init(x0[r])
            for g in grads:
                y, t = single.step(y, g[r], t)
            assert np.array_equal(x[r], y), (cls.__name__, r)


def test_size_one_hyperparameter_axes_broadcast_over_a_grid():
    lr = np.array([[0.1, 0.2, 0.3]])            # varies along runs axis 1
    mom = np.array([[0.0], [0.5]])              # varies along runs axis 0
    opt = optim.SGD(lr, momentum=mom)
    x = np.ones((2, 3, 2))
    y, s = opt.step(x, x, opt.init(x))
    y, s = opt.step(y, y, s)
    for i in range(2):
        for j in range(3):
            single = optim.SGD(float(lr[0, j]), momentum=float(mom[i, 0]))
            z, t = single.step(x[i, j], x[i, j], single.init(x[i, j]))
            z, t = single.step(z, z, t)
            assert np.array_equal(y[i, j], z)
    with pytest.raises(ValueError, match="momentum has shape"):
        bad = optim.SGD(0.1, momentum=np.zeros((3, 1)))
        bad.step(x, x, bad.init(x))


def test_is_elementwise_declarations():
    """True exactly when a flat step equals the per-array steps: the rule says so, no norm
    clipping, no array hyper-parameter, no plain callable learning rate."""
    from gdsim import schedules

    for cls in (optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad):
        assert cls().is_elementwise() and cls(clipvalue=0.5, weight_decay=0.1).is_elementwise()
        assert not cls(clipnorm=1.0).is_elementwise() and not cls(global_clipnorm=1.0).is_elementwise()
        assert not cls(learning_rate=np.array([0.1, 0.2])).is_elementwise()
        assert not cls(learning_rate=lambda t: 0.1).is_elementwise()
        assert cls(learning_rate=schedules.CosineDecay(0.1, 10)).is_elementwise()
        assert not cls(learning_rate=schedules.CosineDecay(np.array([0.1, 0.2]), 10)).is_elementwise()
    assert not optim.Adam(beta_1=np.array([0.5, 0.9])).is_elementwise()

    class Quiet(optim.Adam):  # replaces the update without saying: assumed not element-wise
        def _update(self, w, g, slots, lr, t):
            return w - lr * g / np.linalg.norm(g), slots

    assert not Quiet().is_elementwise()
    assert optim.Adam().is_elementwise()  # the parent's declaration is untouched


def test_each_rule_is_a_pure_function_that_leaves_its_inputs_alone():
    from gdsim.optim import adagrad, adam, rmsprop, sgd

    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    slots = {"m": np.array([0.1, 0.2]), "v": np.array([0.3, 0.4])}
    before = {k: v.copy() for k, v in slots.items()}
    new_w, new_slots = adam.adam(w, g, slots, 0.1, 0, beta_1=0.9, beta_2=0.999, one_minus_beta_1=0.1,
                                 one_minus_beta_2=0.001, epsilon=1e-7, amsgrad=False)
    assert all(np.array_equal(slots[k], before[k]) for k in slots) and np.array_equal(w, [1.0, -2.0])
    np.testing.assert_allclose(new_slots["m"], 0.9 * before["m"] + 0.1 * g)
    assert np.all(np.sign(w - new_w) == np.sign(g))
    assert sgd.sgd(w, g, {}, 0.1, 0, momentum=0.0, nesterov=False)[0].tolist() == [0.95, -2.025]
    a = adagrad.adagrad(w, g, {"accumulator": np.zeros(2)}, 1.0, 0, epsilon=0.0)[0]
    np.testing.assert_allclose(a, w - np.sign(g))
    r = rmsprop.rmsprop(w, g, {"velocity": np.zeros(2)}, 0.1, 0, rho=0.0, one_minus_rho=1.0,
                        momentum=0.0, epsilon=0.0, centered=False)[0]
    np.testing.assert_allclose(r, w - 0.1 * np.sign(g))


def test_a_callable_learning_rate_in_keras_form_or_with_the_step():
    """Keras calls a callable learning rate with no argument; gdsim's form takes the step.
    Both give the same updates; a callable of neither form is refused when it is given."""
    params, grads = [np.array([1.0, -2.0])], [np.array([0.5, 0.25])]
    results = []
    for lr in (lambda: 0.1, lambda step: 0.1, 0.1):
        opt = optim.SGD(lr, momentum=0.9)
        state = opt.init(params)
        p = params
        for _ in range(3):
            p, state = opt.step(p, grads, state)
        results.append(p[0])
    assert np.array_equal(results[0], results[2]) and np.array_equal(results[1], results[2])
    steps = []
    opt = optim.SGD(lambda step: steps.append(int(step)) or 0.1)
    state = opt.init(params)
    for _ in range(2):
        params, state = opt.step(params, grads, state)
    assert steps == [0, 1]
    with pytest.raises(TypeError, match=r"learning_rate must take no argument \(Keras's form\) or one"):
        optim.SGD(lambda a, b: 0.1)
