"""gdsim.simulate and gdsim.noise: bit-reproducibility (vectorized == looped, seeds,
chunking, checkpoint/resume), oracle semantics, divergence as data."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import noise, optim, simulate
from gdsim.problems import LinearRegression


class Bumpy:
    """A small non-convex 2-D test surface (elementwise only): f = sum(x^2/2 + a*cos(3x))."""

    dim = 2

    def __repr__(self):
        return "Bumpy()"

    def value(self, x):
        x = np.asarray(x)
        t = x * x / 2 + 0.3 * np.cos(3 * x)
        return t[..., 0] + t[..., 1]

    def grad(self, x):
        x = np.asarray(x)
        return x - 0.9 * np.sin(3 * x)


SURFACE = Bumpy()
REG = LinearRegression(np.linspace(-1, 2, 23), np.sin(np.linspace(-1, 2, 23)))

ORACLES = {
    "exact": lambda: None,
    "gauss": lambda: noise.Gaussian(0.3),
    "gauss-cov": lambda: noise.Gaussian(0.5, covariance=[[2.0, 0.5], [0.5, 1.0]]),
    "batch-shuffle": lambda: noise.Minibatch(5),
    "batch-seq": lambda: noise.Minibatch(5, shuffle=False),
    "batch-replace": lambda: noise.Minibatch(4, replace=True),
}


def _problem(key):
    return REG if key.startswith("batch") else SURFACE


def _make_opt(name, lr):
    return {"sgd": lambda: optim.SGD(lr, momentum=0.5),
            "adam": lambda: optim.Adam(lr),
            "rmsprop": lambda: optim.RMSprop(lr, centered=True)}[name]()


@pytest.mark.parametrize("key", list(ORACLES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vectorized_equals_looped_bit_for_bit(key, dtype):
    rng = np.random.default_rng(3)
    R = 5
    lrs = np.geomspace(1e-3, 0.2, R)
    x0 = rng.uniform(-2, 2, (R, 2))
    problem = _problem(key)
    batch = simulate.run(problem, optim.Adam(lrs), x0, 40, noise=ORACLES[key](), seed=11,
                         dtype=dtype, record=3)
    assert batch.params.dtype == np.dtype(dtype)
    for r in range(R):
        alone = simulate.run(problem, optim.Adam(float(lrs[r])), x0[r], 40, noise=ORACLES[key](),
                             seed=11, dtype=dtype, record=3, run_ids=r)
        assert np.array_equal(alone.params, batch.params[:, r])
        assert np.array_equal(alone.loss, batch.loss[:, r])
        assert np.array_equal(alone.grad_norm, batch.grad_norm[:, r])


@settings(max_examples=15)
@given(runs=st.tuples(st.integers(1, 3), st.integers(1, 4)), seed=st.integers(0, 2**32 - 1),
       key=st.sampled_from(list(ORACLES)), opt=st.sampled_from(["sgd", "adam", "rmsprop"]))
def test_grid_of_runs_equals_single_runs(runs, seed, key, opt):
    rng = np.random.default_rng(seed)
    lrs = rng.uniform(1e-3, 0.1, runs)
    x0 = rng.uniform(-2, 2, runs + (2,))
    problem = _problem(key)
    batch = simulate.run(problem, _make_opt(opt, lrs), x0, 15, noise=ORACLES[key](), seed=seed, record="final")
    for i in range(runs[0]):
        for j in range(runs[1]):
            alone = simulate.run(problem, _make_opt(opt, float(lrs[i, j])), x0[i, j], 15,
                                 noise=ORACLES[key](), seed=seed, record="final", run_ids=i * runs[1] + j)
            assert np.array_equal(alone.final_params, batch.final_params[i, j])


@pytest.mark.parametrize("key", ["gauss", "batch-shuffle", "batch-replace"])
def test_same_seed_same_bits_different_seed_different_noise(key):
    x0 = np.zeros((4, 2)) + 0.5
    a = simulate.run(_problem(key), optim.SGD(0.05), x0, 30, noise=ORACLES[key](), seed=1)
    b = simulate.run(_problem(key), optim.SGD(0.05), x0, 30, noise=ORACLES[key](), seed=1)
    c = simulate.run(_problem(key), optim.SGD(0.05), x0, 30, noise=ORACLES[key](), seed=2)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    # different runs of one batch get different noise even from the same start
    assert not np.array_equal(a.params[:, 0], a.params[:, 1])


@pytest.mark.parametrize("key", ["gauss", "gauss-cov", "batch-shuffle", "batch-replace"])
def test_chunking_does_not_change_bits(key, monkeypatch):
    x0 = np.random.default_rng(0).uniform(-1, 1, (3, 2))
    ref = simulate.run(_problem(key), optim.Adam(0.05), x0, 37, noise=ORACLES[key](), seed=5)
    for budget in [1, 7, 50]:
        monkeypatch.setattr(simulate, "CHUNK_BUDGET", budget)
        got = simulate.run(_problem(key), optim.Adam(0.05), x0, 37, noise=ORACLES[key](), seed=5)
        assert np.array_equal(got.params, ref.params)


def test_seed_matches_seedsequence_spawn():
    gens = simulate.run_generators(7, np.arange(3))
    spawned = [np.random.default_rng(s) for s in np.random.SeedSequence(7).spawn(3)]
    assert all(np.array_equal(g.random(4), s.random(4)) for g, s in zip(gens, spawned))


class Failing(LinearRegression):
    """Raises after a number of gradient calls: an interrupted long simulation."""

    fail_after = None

    def __repr__(self):
        return "Failing(reg)"

    def grad(self, params, idx=None):
        if self.fail_after is not None:
            self.fail_after -= 1
            if self.fail_after < 0:
                raise KeyboardInterrupt
        return super().grad(params, idx)


@pytest.mark.parametrize("key", ["exact", "gauss", "batch-shuffle", "batch-replace"])
def test_checkpoint_resume_is_bit_identical(tmp_path, key):
    problem = Failing(REG.x[:, 0], REG.y)
    oracle = ORACLES[key]
    x0 = np.random.default_rng(1).uniform(-1, 1, (4, 2))
    opt = optim.Adam(np.array([0.01, 0.02, 0.05, 0.1]), amsgrad=True)
    ref = simulate.run(problem, opt, x0, 50, noise=oracle(), seed=3, record=4)
    path = tmp_path / "sim.npz"
    problem.fail_after = 33
    with pytest.raises(KeyboardInterrupt):
        simulate.run(problem, opt, x0, 50, noise=oracle(), seed=3, record=4, checkpoint=path,
                     checkpoint_every=9)
    problem.fail_after = None
    saved = np.load(path)
    assert int(saved["sim/step"]) in (9, 18, 27)
    resumed = simulate.run(problem, opt, x0, 50, noise=oracle(), seed=3, record=4, checkpoint=path,
                           checkpoint_every=9, resume=path)
    assert np.array_equal(resumed.params, ref.params, equal_nan=True)
    assert np.array_equal(resumed.loss, ref.loss)
    assert np.array_equal(resumed.grad_norm, ref.grad_norm)
    with pytest.raises(ValueError, match="not a checkpoint of this simulation"):
        simulate.run(problem, opt, x0, 50, noise=oracle(), seed=4, record=4, resume=path)


def test_divergence_is_recorded_without_warnings():
    lam = 3.0
    lrs = np.array([0.5, 0.6, 0.7, 0.8]) * 2 / lam * np.array([1, 1, 2, 2])  # last two above 2/lam

    class Quad:
        dim = 1

        def value(self, x):
            return 0.5 * lam * x[..., 0] ** 2

        def grad(self, x):
            return lam * x

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = simulate.run(Quad(), optim.SGD(lrs), np.ones((4, 1)), 2000, record="final")
    assert list(tr.diverged_at[:2]) == [-1, -1]
    assert np.all(tr.diverged_at[2:] > 0)
    assert tr.diverged.tolist() == [False, False, True, True]
    assert np.all(np.abs(tr.final_params[:2]) < 1e-100)


def test_trajectory_shapes_and_recording():
    x0 = np.zeros((2, 3, 2)) + 1.0
    tr = simulate.run(SURFACE, "adam", x0, 10, record=4)
    assert tr.steps.tolist() == [0, 4, 8, 10]
    assert tr.params.shape == (4, 2, 3, 2) and tr.loss.shape == (4, 2, 3)
    assert np.array_equal(tr.params[0], x0)
    np.testing.assert_allclose(tr.loss, SURFACE.value(tr.params))
    np.testing.assert_allclose(tr.grad_norm, np.linalg.norm(SURFACE.grad(tr.params), axis=-1))
    assert simulate.run(SURFACE, "sgd", x0, 5, record="final").params.shape == (1, 2, 3, 2)
    assert simulate.run(SURFACE, "sgd", x0, 5).steps.tolist() == list(range(6))
    assert tr.run_ids.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_exact_oracle_is_plain_gradient_descent():
    x0 = np.array([[1.0, -0.5]])
    tr = simulate.run(SURFACE, optim.GD(0.1), x0, 5)
    x = x0
    for k in range(6):
        assert np.array_equal(tr.params[k], x)
        x = x - SURFACE.grad(x) * 0.1


def test_gaussian_noise_has_the_requested_covariance():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])

    class Flat:
        dim = 2

        def value(self, x):
            return np.zeros(x.shape[:-1])

        def grad(self, x):
            return np.zeros_like(x)

    # SGD with lr 1 from 0 on a flat surface: x_1 = -scale * C^{1/2} z
    tr = simulate.run(Flat(), optim.SGD(1.0), np.zeros((20000, 2)), 1, noise=noise.Gaussian(0.5, cov), seed=0)
    np.testing.assert_allclose(np.cov(tr.final_params.T), 0.25 * cov, rtol=0.04, atol=0.01)
    scales = np.array([0.0, 1.0, 3.0])
    tr = simulate.run(Flat(), optim.SGD(1.0), np.zeros((3, 2)), 1, noise=noise.Gaussian(scales), seed=0)
    assert np.all(tr.final_params[0] == 0) and np.any(tr.final_params[2] != 0)


class Recorder(LinearRegression):
    def __repr__(self):
        return "Recorder()"

    def grad(self, params, idx=None):
        self.seen.append(np.array(idx))
        return super().grad(params, idx)


@pytest.mark.parametrize("shuffle", [True, False])
def test_minibatch_epochs_cover_every_sample_once_and_keep_the_partial_batch(shuffle):
    n, B = 70, 32
    problem = Recorder(np.arange(n, dtype=float), np.zeros(n))
    problem.seen = []
    simulate.run(problem, optim.SGD(1e-6), np.zeros((2, 2)), 9, noise=noise.Minibatch(B, shuffle=shuffle),
                 seed=0, record="final")
    batches = [b for b in problem.seen if b.ndim == 2]
    assert [b.shape[-1] for b in batches] == [32, 32, 6] * 3
    for epoch in range(3):
        for r in range(2):
            idx = np.concatenate([b[r] for b in batches[3 * epoch: 3 * epoch + 3]])
            assert sorted(idx.tolist()) == list(range(n))
            if not shuffle:
                assert idx.tolist() == list(range(n))
    if shuffle:
        first = np.concatenate([b[0] for b in batches[:3]])
        second = np.concatenate([b[0] for b in batches[3:6]])
        assert not np.array_equal(first, second)  # reshuffled every epoch


def test_minibatch_batch_larger_than_data_is_full_batch():
    problem = LinearRegression.seed(20)
    a = simulate.run(problem, optim.SGD(0.001), np.zeros(2), 10, noise=noise.Minibatch(32), seed=0)
    b = simulate.run(problem, optim.SGD(0.001), np.zeros(2), 10)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"x0 must have shape \(\*runs, 2\)"):
        simulate.run(SURFACE, "sgd", np.zeros(3), 5)
    with pytest.raises(ValueError, match="record"):
        simulate.run(SURFACE, "sgd", np.zeros(2), 5, record="some")
    with pytest.raises(ValueError, match="steps must be >= 0"):
        simulate.run(SURFACE, "sgd", np.zeros(2), -1)
    with pytest.raises(TypeError, match="Minibatch needs a finite-sum problem"):
        simulate.run(SURFACE, "sgd", np.zeros(2), 5, noise=noise.Minibatch(4))
    with pytest.raises(ValueError, match="learning_rate has shape"):
        simulate.run(SURFACE, optim.SGD(np.ones(3) * 0.1), np.zeros((2, 2)), 5)
    with pytest.raises(ValueError, match="run_ids"):
        simulate.run(SURFACE, "sgd", np.zeros((2, 2)), 5, run_ids=[0])
    with pytest.raises(ValueError, match="checkpoint_every"):
        simulate.run(SURFACE, "sgd", np.zeros(2), 5, checkpoint="x.npz")
    with pytest.raises(ValueError, match="scale"):
        noise.Gaussian(-1.0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        noise.Gaussian(1.0, covariance=[[1.0, 2.0], [2.0, 1.0]])


def test_corrupt_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "sim.npz"
    simulate.run(SURFACE, "adam", np.zeros((2, 2)) + 1, 10, checkpoint=path, checkpoint_every=4)
    assert [p.name for p in tmp_path.iterdir()] == ["sim.npz"]  # atomic: no temp files left
    data = path.read_bytes()
    path.write_bytes(data[:100])
    with pytest.raises(ValueError, match="sim.npz"):
        simulate.run(SURFACE, "adam", np.zeros((2, 2)) + 1, 10, resume=path)
    assert path.read_bytes() == data[:100]


def test_resume_of_a_finished_run_returns_the_same_trajectory(tmp_path):
    path = tmp_path / "sim.npz"
    kw = dict(noise=noise.Gaussian(0.2), seed=9, record=2)
    a = simulate.run(SURFACE, "adam", np.zeros((3, 2)) + 1, 12, checkpoint=path, checkpoint_every=5, **kw)
    b = simulate.run(SURFACE, "adam", np.zeros((3, 2)) + 1, 12, resume=path, **kw)
    assert np.array_equal(a.params, b.params)


def test_noise_scale_by_learning_rate_grid_equals_single_runs():
    scales = np.array([[0.0], [0.5], [2.0]])        # runs axis 0
    lrs = np.array([[0.01, 0.05, 0.1, 0.3]])        # runs axis 1
    x0 = np.full((3, 4, 2), 1.2)
    grid = simulate.run(SURFACE, optim.SGD(lrs, momentum=0.9), x0, 25, noise=noise.Gaussian(scales),
                        seed=4, record="final")
    for i in range(3):
        for j in range(4):
            alone = simulate.run(SURFACE, optim.SGD(float(lrs[0, j]), momentum=0.9), x0[i, j], 25,
                                 noise=noise.Gaussian(float(scales[i, 0])), seed=4, record="final",
                                 run_ids=4 * i + j)
            assert np.array_equal(alone.final_params, grid.final_params[i, j])
