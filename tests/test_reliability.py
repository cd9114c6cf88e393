"""The ten defect classes of issue 16, one section each: the issue's reproducer and its
siblings. Every bad input must be refused up front, with one line naming the argument (the
flag in the CLI) and what was expected; checkpoints load all or nothing; files are replaced
whole or not at all and nothing is left behind.

``m()`` is the issue's model: ``Sequential([Dense(1, input_shape=(3,))])`` with sgd/mse.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from gdsim import (_io, analysis, cli, curvature, figures, noise, optim, plots, problems, schedules,
                   simulate, spikes, surfaces)
from gdsim.explorer import page as explorer_page
from gdsim.nn import callbacks, losses
from gdsim.nn.layers import Dense, Dropout
from gdsim.optim import equivalent
from gdsim.studies import edge_of_stability
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.nn.model import Sequential
from gdsim.optim import torch_form
from gdsim.studies.cnn.data import real_fake_images
from gdsim.studies.cnn.model import seed_cnn
from gdsim.studies.xs_ys import regression, stability

X = np.ones((20, 3))
Y = np.ones(20)
ROSENBROCK = surfaces.get("rosenbrock")


def m(**kwargs) -> Sequential:
    model = Sequential([Dense(1, input_shape=(3,))], **kwargs)
    model.compile(optimizer="sgd", loss="mse")
    return model


def refused(error, call, *names):
    """``call()`` raises ``error`` with a one-line message naming every one of ``names``."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message.strip(), message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    return message


def run_cli(capsys, *argv):
    """``gdsim ARGV`` in-process: (exit status, stdout, stderr)."""
    try:
        status = cli.main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def cli_refused(capsys, flag, *argv, also=()):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2, err
    assert err.startswith("gdsim: error: ") and flag in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in also:
        assert text in err, err
    return err


# =========================================================================== 1 finite before the cast
def test_1_fit_refuses_data_finite_in_float64_but_not_in_float32():
    model = m()
    refused(ValueError, lambda: model.fit(np.full((20, 3), 1e300), Y, verbose=0), "x", "float32")
    assert model.optimizer_state is None  # refused before training started


@pytest.mark.parametrize("call,name", [
    (lambda: m().fit(X, np.full(20, -1e39), verbose=0), "y"),
    (lambda: m().fit(X, Y, verbose=0, validation_data=(np.full((4, 3), 1e39), np.ones(4))),
     "validation_data[0]"),
    (lambda: m().predict(np.full((2, 3), 4e38)), "x"),
    (lambda: m().evaluate(X, np.full(20, 1e300)), "y"),
    (lambda: m().gradient(np.full((2, 3), 1e39), np.ones(2)), "x"),
    (lambda: m().fit([[1e39, 0.0, 0.0]] * 20, Y, verbose=0), "x"),  # a nested list
    (lambda: simulate.run(ROSENBROCK, "sgd", np.array([1e39, 0.0]), 2, dtype="float32"), "x0"),
    (lambda: regression.run(n=5, kernel=1e39, epochs=1, predict_at=None), "init_kernel"),
    (lambda: regression.run(n=5, kernel=0.1, epochs=1, predict_at=1e39), "predict"),
])
def test_1_siblings_every_float32_path_checks_before_casting(call, name):
    refused(ValueError, call, name)


def test_1_the_same_values_are_fine_in_float64():
    history = m(dtype="float64").fit(np.full((20, 3), 1e39), Y, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1  # 1e39 is a float64: training runs (and diverges)


def test_1_cli_init_kernel_beyond_float32_is_refused_not_nan(capsys):
    cli_refused(capsys, "--init-kernel", "regression", "--init-kernel", "1e39", "--json",
                also=("float32",))
    cli_refused(capsys, "--predict", "regression", "--predict", "-1e39", "--json")


# =========================================================================== 2 wrong dtypes
BAD_DTYPE_DATA = {
    "complex": X + 1j, "str": X.astype(str), "bytes": X.astype(bytes),
    "timedelta": X.astype("m8[s]"), "datetime": X.astype("M8[s]"), "object": X.astype(object),
}


def test_2_complex_data_is_refused_not_stripped_of_its_imaginary_part():
    refused(TypeError, lambda: m().fit(X + 1j, Y, verbose=0), "x", "complex")


def test_2_simulate_refuses_a_string_start():
    refused(TypeError, lambda: simulate.run(ROSENBROCK, "sgd", np.array(["1", "2"]), 2), "x0")


@pytest.mark.parametrize("kind", sorted(BAD_DTYPE_DATA))
@pytest.mark.parametrize("where", ["fit x", "fit y", "predict", "simulate x0", "step grads"])
def test_2_siblings_no_entry_point_takes_a_non_real_dtype(kind, where):
    data = BAD_DTYPE_DATA[kind]
    opt = optim.Adam()
    calls = {"fit x": (lambda: m().fit(data, Y, verbose=0), "x"),
             "fit y": (lambda: m().fit(X, data[:, 0], verbose=0), "y"),
             "predict": (lambda: m().predict(data), "x"),
             "simulate x0": (lambda: simulate.run(ROSENBROCK, "sgd", data[:, :2], 2), "x0"),
             "step grads": (lambda: opt.step(np.zeros(3), data[0], opt.init(np.zeros(3))), "grads")}
    call, name = calls[where]
    refused(TypeError, call, name)


# =========================================================================== 3 hyper-parameter types
@pytest.mark.parametrize("value,error", [
    (True, TypeError), (bytearray(b"1"), TypeError), (np.complex128(0.1 + 5j), TypeError),
    (float, TypeError), (10**400, ValueError),
])
def test_3_sgd_learning_rate_of_the_wrong_type_is_refused(value, error):
    refused(error, lambda: optim.SGD(learning_rate=value), "learning_rate")


@pytest.mark.parametrize("call,name", [
    (lambda: optim.Adam(beta_1=True), "beta_1"),
    (lambda: optim.Adam(epsilon=b"1"), "epsilon"),
    (lambda: optim.RMSprop(rho=np.complex64(0.9)), "rho"),
    (lambda: optim.Adagrad(initial_accumulator_value=int), "initial_accumulator_value"),
    (lambda: optim.SGD(momentum=np.array([0.5 + 1j])), "momentum"),
    (lambda: optim.SGD(0.1, nesterov="yes"), "nesterov"),
    (lambda: torch_form.SGD(lr=True), "lr"),
    (lambda: torch_form.Adam(lr=0.1, betas=(0.9, True)), "betas"),
    (lambda: schedules.ExponentialDecay(True, 10, 0.9), "initial_learning_rate"),
    (lambda: schedules.ExponentialDecay(0.1, 10**400, 0.9), "decay_steps"),
    (lambda: noise.Gaussian(True), "scale"),
    (lambda: Dropout(rate=np.bool_(True)), "rate"),
    (lambda: Dense(units=2.0), "units"),
    (lambda: Dense(units=np.timedelta64(2, "s")), "units"),
])
def test_3_siblings_every_hyper_parameter_checks_its_type(call, name):
    refused((TypeError, ValueError), call, name)


@pytest.mark.parametrize("call,name", [
    (lambda: schedules.FromCallable(float), "fn"),  # a type is a cast, not a schedule
    (lambda: curvature.sharpness(float, 3), "matvec"),
    (lambda: simulate.run(ROSENBROCK, "sgd", np.zeros(2), 2, run_ids=2**63), "run_ids"),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.9)(b"1"), "step"),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.9)(np.timedelta64(3, "s")), "step"),
    (lambda: regression.run(n=5, epochs=1, dtype=None, predict_at=None), "dtype"),
])
def test_3_siblings_callables_ids_steps_and_dtypes_of_the_wrong_kind(call, name):
    refused((TypeError, ValueError), call, name)


def test_3_valid_odd_values_still_work():
    assert float(optim.SGD(np.float32(7)).get_config()["learning_rate"]) == 7.0
    assert optim.SGD(learning_rate=np.array([0.1, 0.2])) is not None  # a sweep over runs


# =========================================================================== 4 shapes and containers
@pytest.mark.parametrize("shape", [b"0.5", (2.7,), "32", (), (0,), (3, -1), [True], 2.0])
def test_4_build_refuses_what_is_not_a_shape(shape):
    model = Sequential([Dense(1)])
    refused((TypeError, ValueError), lambda: model.build(shape), "input_shape")
    assert not model.built


@pytest.mark.parametrize("call,name", [
    (lambda: Sequential(5), "layers"),
    (lambda: Sequential([5]), "layer"),
    (lambda: Sequential("dense"), "layers"),
    (lambda: m().compile(optimizer="sgd", loss="mse", metrics=5), "metrics"),
    (lambda: m().compile(optimizer="sgd", loss="mse", metrics="accuracy"), "metrics"),
    (lambda: callbacks.EarlyStopping(monitor=5), "monitor"),
    (lambda: m().fit(X, Y, verbose=0, callbacks=5), "callbacks"),
    (lambda: m().fit(X, Y, verbose=0, validation_data=5), "validation_data"),
])
def test_4_containers_of_the_wrong_kind_are_named(call, name):
    message = refused((TypeError, ValueError), call, name)
    assert "not iterable" not in message and "'a'" not in message


def test_4_set_weights_checks_the_container_count_and_shapes():
    model = m()
    model.build()
    before = model.get_weights()
    refused(TypeError, lambda: model.set_weights(5), "weights")
    refused(ValueError, lambda: model.set_weights([np.ones((3, 1))]), "weights")
    refused(ValueError, lambda: model.set_weights([np.ones((4, 1)), np.ones(1)]), "kernel")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("call,name", [
    (lambda: schedules.PiecewiseConstantDecay(b"\x01", [0.1, 0.01]), "boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([10], 0.1), "values"),
    (lambda: Dense(2, input_shape=bytearray(b"\x03")), "input_shape"),
    (lambda: Dense(2, input_shape=np.array(3)), "input_shape"),
    (lambda: Dense(2, kernel_initializer="glorot"), "kernel_initializer"),
    (lambda: Dropout(0.5, noise_shape=()), "noise_shape"),
    (lambda: losses.MeanSquaredError()(np.ones((6, 3)), np.ones((6, 1))), "y_true"),
    (lambda: explorer_page.select_presets(False), "names"),
    (lambda: analysis.escape_fraction(np.zeros((4, 2)), np.zeros((1, 2)), axis=2.0), "axis"),
])
def test_4_siblings_containers_shapes_and_names(call, name):
    refused((TypeError, ValueError), call, name)


def test_4_a_numpy_shape_is_a_shape():
    assert Dense(2, input_shape=np.array([3])).input_shape == (3,)


def test_4_fit_refuses_a_bad_stream_before_training_starts():
    model = m()
    refused(TypeError, lambda: model.fit(X, Y, stream=5, verbose=1), "stream")
    assert model.optimizer_state is None and model.history is None


# =========================================================================== 5 paths checked early
class _Calls(callbacks.Callback):
    began = 0

    def on_train_begin(self, logs=None):
        _Calls.began += 1


def _read_only_place(tmp_path):
    """A folder no new file can go in: chmod 0500 for an ordinary user; root may write
    anywhere, so then /sys (read-only for root too) if it refuses."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o500)
        return str(folder)
    with contextlib.suppress(OSError):
        fd, probe = tempfile.mkstemp(dir="/sys")
        os.close(fd)
        os.unlink(probe)
        pytest.skip("no read-only folder here: /sys accepts files")
    return "/sys"


def _bad_paths(tmp_path):
    return {"a folder": (str(tmp_path), ValueError, "folder"),
            "empty": ("", ValueError, "non-empty"), "blank": ("   ", ValueError, "non-empty"),
            "int": (5, TypeError, "path"), "bytes": (b"x.npz", TypeError, "path"),
            "missing folder": (str(tmp_path / "missing" / "x.npz"), ValueError, "does not exist"),
            "read-only": (os.path.join(_read_only_place(tmp_path), "x.npz"), ValueError,
                          "cannot write")}


@pytest.mark.parametrize("case", ["a folder", "empty", "blank", "int", "bytes", "missing folder",
                                  "read-only"])
def test_5_fit_checkpoint_path_is_refused_before_the_first_epoch(tmp_path, case):
    path, error, words = _bad_paths(tmp_path)[case]
    before = sorted(os.listdir(tmp_path))
    model = m()
    _Calls.began = 0
    refused(error, lambda: model.fit(X, Y, epochs=3, verbose=0, checkpoint=path,
                                     callbacks=[_Calls()]), "checkpoint", words)
    assert _Calls.began == 0 and model.optimizer_state is None
    assert sorted(os.listdir(tmp_path)) == before  # the probe left nothing


class _Counting:
    """Rosenbrock that counts its gradient calls: a refusal must come before the first."""

    def __init__(self):
        self.dim, self.calls = 2, 0

    def value(self, x):
        return ROSENBROCK.value(x)

    def grad(self, x):
        self.calls += 1
        return ROSENBROCK.grad(x)


@pytest.mark.parametrize("case", ["a folder", "empty", "int", "missing folder", "read-only"])
def test_5_simulate_checkpoint_path_is_refused_before_computing(tmp_path, case):
    path, error, words = _bad_paths(tmp_path)[case]
    problem = _Counting()
    refused(error, lambda: simulate.run(problem, "sgd", np.zeros(2), 1000, checkpoint=path,
                                        checkpoint_every=10), "checkpoint", words)
    assert problem.calls == 0


def test_5_simulate_resume_path_is_refused_before_computing(tmp_path):
    problem = _Counting()
    refused(ValueError, lambda: simulate.run(problem, "sgd", np.zeros(2), 100,
                                             resume=str(tmp_path / "none.npz")), "resume")
    refused(TypeError, lambda: simulate.run(problem, "sgd", np.zeros(2), 100, resume=7), "resume")
    assert problem.calls == 0


def test_5_other_writers_check_their_paths_before_any_work(tmp_path):
    refused(ValueError, lambda: optim.OptState(np.array(0), {}).save(""), "path")
    refused(ValueError, lambda: optim.OptState.load(tmp_path), "path", "folder")
    refused(ValueError, lambda: explorer_page.write(" ", quick=True), "out")
    refused(TypeError, lambda: figures.make("divergence", 5, quick=True), "out_dir")
    refused(ValueError, lambda: figures.make("nope", tmp_path / "made", quick=True), "figure")
    refused(ValueError, lambda: plots.save(plots.new_figure()[0], "", "fig"), "out_dir")
    refused(ValueError, lambda: plots.save(plots.new_figure()[0], tmp_path, None), "stem")
    refused(ValueError, lambda: train_seed_run(n=16, epochs=1, size=8, verbose=0,
                                               history_path=tmp_path), "history_path")
    assert sorted(os.listdir(tmp_path)) == []  # nothing was created, not even a folder


# =========================================================================== 6 sizes refused up front
def _quick(call):
    started = time.perf_counter()
    message = refused(ValueError, call)
    assert time.perf_counter() - started < 5  # up front, not after allocating
    assert "needs about" in message and "limit" in message, message
    return message


def test_6_simulate_steps_10_30_is_refused_with_the_estimate_and_the_limit():
    message = _quick(lambda: simulate.run(ROSENBROCK, "sgd", np.zeros(2), 10**30))
    assert message.startswith("steps")


def test_6_simulate_steps_beyond_the_cap_recorded_finally_is_refused_with_the_cap():
    refused(ValueError, lambda: simulate.run(ROSENBROCK, "sgd", np.zeros(2), 10**30,
                                             record="final"), "steps", "1,000,000,000,000")


def test_6_ten_million_noisy_runs_are_refused_not_a_memory_error_after_minutes():
    x0 = np.broadcast_to(np.zeros(2), (10**7, 2))  # no memory of its own
    message = _quick(lambda: simulate.run(ROSENBROCK, "sgd", x0, 100, noise=noise.Gaussian(0.1)))
    assert message.startswith("x0") and "10,000,000 run(s)" in message


@pytest.mark.parametrize("call", [
    lambda: surfaces.get("quadratic", dim=2**63),
    lambda: surfaces.Quadratic(dim=2**63),
    lambda: surfaces.Quadratic(np.ones(10**6)),
    lambda: surfaces.get("rosenbrock", dim=10**12),
    lambda: real_fake_images(n=10**9),
    lambda: regression.run(n=10**9, epochs=1, predict_at=None),
    lambda: seed_cnn(height=2**40, width=2**40),
    lambda: edge_of_stability.chebyshev_data(points=2**42),
    lambda: stability.max_converging_n(0.01, n_max=10**13),
    lambda: problems.LinearRegression.seed(10**12),
    lambda: real_fake_images(n=4, size=2**20),
])
def test_6_siblings_sizes_are_estimated_before_allocating(call):
    _quick(call)


def test_6_the_limit_is_the_environment_s_when_set(monkeypatch):
    monkeypatch.setenv("GDSIM_MEMORY_LIMIT_BYTES", str(10**6))
    message = _quick(lambda: simulate.run(ROSENBROCK, "sgd", np.zeros((1000, 2)), 100))
    assert "the limit 1 MB (set by GDSIM_MEMORY_LIMIT_BYTES)" in message


@pytest.mark.parametrize("argv", [["regression", "--n", str(10**9)],
                                  ["analyze", "regression", "--n", str(10**9)]])
def test_6_cli_sizes_are_refused_with_the_estimate_and_the_limit(capsys, argv):
    cli_refused(capsys, "--n", *argv, also=("needs about", "limit"))


def test_6_reproduce_cnn_refuses_its_size_before_creating_out(capsys, tmp_path):
    out = tmp_path / "out"
    cli_refused(capsys, "--n", "reproduce", "cnn", "--n", str(10**9), "--out", str(out),
                also=("needs about",))
    cli_refused(capsys, "--n", "reproduce", "cnn", "--n", "7", "--out", str(out))
    cli_refused(capsys, "--epochs", "reproduce", "cnn", "--epochs", "0", "--out", str(out))
    assert not out.exists()


# =========================================================================== 7 checkpoint loading
def _model():
    model = Sequential([Dense(4, input_shape=(3,)), Dropout(0.5), Dense(1)], seed=1)
    model.compile(optimizer="adam", loss="mse")
    return model


DATA = (np.random.default_rng(0).normal(size=(20, 3)), np.random.default_rng(1).normal(size=20))


def _state(model):
    """Everything a load could change: weights, optimizer state, every random stream."""
    streams = {f"{i}.{k}": v.bit_generator.state for i, layer in enumerate(model.layers)
               for k, v in vars(layer).items() if isinstance(v, np.random.Generator)}
    streams.update({repr(k): s.bit_generator.state for k, s in model._shuffle_streams.items()})
    optimizer = {k: v.tolist() for k, v in model.optimizer_state.to_arrays().items()}
    return [w.tolist() for w in model.get_weights()], optimizer, json.dumps(streams, sort_keys=True)


def _trained():
    """A model part-way through training (weights, optimizer state, streams all moved)."""
    model = _model()
    model.fit(*DATA, epochs=1, batch_size=8, verbose=0)
    return model


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "run.npz"
    _model().fit(*DATA, epochs=2, batch_size=8, verbose=0, checkpoint=path)
    return path


def _refused_untouched(path, *words):
    model = _trained()
    before = _state(model)
    message = refused(ValueError, lambda: model.fit(*DATA, epochs=4, batch_size=8, verbose=0,
                                                    checkpoint=path, resume=True),
                      str(path), *words)
    assert _state(model) == before, "a refused checkpoint changed the model"
    return message


def _rewrite(path, **changes):
    arrays = _io.load_npz(path)
    arrays.update(changes)
    np.savez(path, **arrays)


def _streams(path):
    return json.loads(str(_io.load_npz(path)["rng"]))


def test_7_a_bad_rng_state_is_refused_after_nothing_was_installed(checkpoint):
    streams = _streams(checkpoint)
    name = next(iter(streams))
    streams[name]["state"]["state"] = "not a number"
    _rewrite(checkpoint, rng=np.array(json.dumps(streams)))
    _refused_untouched(checkpoint, "random state", name)


@pytest.mark.parametrize("damage", ["another generator", "a stream missing", "a stream more",
                                    "not JSON"])
def test_7_siblings_every_rng_damage_leaves_the_model_untouched(checkpoint, damage):
    streams = _streams(checkpoint)
    name = next(iter(streams))
    if damage == "another generator":
        streams[name]["bit_generator"] = "MT19937"
    elif damage == "a stream missing":
        del streams[name]
    elif damage == "a stream more":
        streams["layer9.rng"] = streams[name]
    text = "{oops" if damage == "not JSON" else json.dumps(streams)
    _rewrite(checkpoint, rng=np.array(text))
    _refused_untouched(checkpoint)


def test_7_a_weight_of_another_shape_or_a_missing_slot_is_refused_untouched(checkpoint):
    _rewrite(checkpoint, **{"weights/0": np.ones((3, 5), np.float32)})
    _refused_untouched(checkpoint, "weights/0")
    arrays = _io.load_npz(checkpoint)
    del arrays["opt/m/0"]
    np.savez(checkpoint, **arrays)
    _refused_untouched(checkpoint)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_7_a_truncated_checkpoint_is_refused_untouched(checkpoint, fraction):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:int(len(data) * fraction)])
    _refused_untouched(checkpoint, "truncated, corrupt or not an .npz")
    assert checkpoint.stat().st_size == int(len(data) * fraction)  # read, never modified


def test_7_every_flipped_bit_is_refused_or_was_in_metadata_no_reader_uses(checkpoint):
    """A flip in the arrays' bytes or their headers is caught (the zip CRC, the .npy header);
    one in a zip field readers ignore (a timestamp, an extra field) loads the same state."""
    good = checkpoint.read_bytes()
    reference = _model()
    reference.fit(*DATA, epochs=3, batch_size=8, verbose=0, checkpoint=checkpoint, resume=True)
    expected = _state(reference)
    outcomes = {"refused": 0, "same state": 0}
    for position in range(0, len(good), 23):
        damaged = bytearray(good)
        damaged[position] ^= 1 << (position % 8)
        checkpoint.write_bytes(bytes(damaged))
        model = _model()
        try:
            model.fit(*DATA, epochs=3, batch_size=8, verbose=0, checkpoint=checkpoint, resume=True)
        except ValueError as exc:
            assert str(checkpoint) in str(exc) and "\n" not in str(exc)
            outcomes["refused"] += 1
        else:
            assert _state(model) == expected, f"a flip at byte {position} loaded other data"
            outcomes["same state"] += 1
    assert outcomes["refused"] > 0.8 * sum(outcomes.values()), outcomes


def test_7_a_npy_file_at_the_checkpoint_path_is_refused_untouched(checkpoint):
    with open(checkpoint, "wb") as handle:
        np.save(handle, np.arange(10.0))
    _refused_untouched(checkpoint, "not an .npz")


@pytest.mark.parametrize("flag", [0x1, 0x20, 0x40])  # encrypted, patched data, strong encryption
def test_7_a_zip_flag_bit_is_refused_untouched(checkpoint, flag):
    data = bytearray(checkpoint.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # every local and central header
        offset = 6 if header == b"PK\x03\x04" else 8
        start = data.find(header)
        while start >= 0:
            data[start + offset] |= flag
            start = data.find(header, start + 4)
    checkpoint.write_bytes(bytes(data))
    _refused_untouched(checkpoint)


def test_7_a_simulation_checkpoint_is_not_a_fit_checkpoint_and_back(tmp_path, checkpoint):
    sim = tmp_path / "sim.npz"
    simulate.run(ROSENBROCK, "sgd", np.zeros(2), 4, checkpoint=sim, checkpoint_every=2)
    _refused_untouched(sim, "gdsim.simulate", "gdsim.fit")
    refused(ValueError, lambda: simulate.run(ROSENBROCK, "sgd", np.zeros(2), 4, resume=checkpoint),
            "resume", "gdsim.fit")


def _cnn(dropout):
    model = seed_cnn(8, 8, dropout=dropout)
    model.compile(optimizer=optim.Adam(1e-3), loss="categorical_crossentropy")
    return model


def test_7_a_checkpoint_of_seed_cnn_without_dropout_is_refused_by_the_dropout_model(tmp_path):
    x, y = real_fake_images(n=4, size=8)
    path = tmp_path / "cnn.npz"
    _cnn(False).fit(x, y, epochs=1, batch_size=2, verbose=0, checkpoint=path)
    model = _cnn(True)
    before = model.get_weights()
    refused(ValueError, lambda: model.fit(x, y, epochs=2, batch_size=2, verbose=0,
                                          checkpoint=path, resume=True), "layers", "Dropout")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # the same architecture resumes
    _cnn(False).fit(x, y, epochs=2, batch_size=2, verbose=0, checkpoint=path, resume=True)


@pytest.mark.parametrize("change,word", [
    ({"seed": 8}, "seed"), ({"batch_size": 4}, "batch_size"), ({"shuffle": False}, "shuffle"),
    ({"x": DATA[0][:16], "y": DATA[1][:16]}, "samples"),
])
def test_7_a_resume_with_other_run_settings_is_refused(tmp_path, change, word):
    path = tmp_path / "run.npz"
    settings = dict(x=DATA[0], y=DATA[1], epochs=2, batch_size=8, verbose=0, seed=7)
    _model().fit(**settings, checkpoint=path)
    settings.update(change, epochs=4)
    refused(ValueError, lambda: _model().fit(**settings, checkpoint=path, resume=True), word)


def test_7_a_resume_with_another_optimizer_or_dtype_is_refused(checkpoint):
    other = _model()
    other.compile(optimizer=optim.Adam(0.5), loss="mse")
    refused(ValueError, lambda: other.fit(*DATA, epochs=4, batch_size=8, verbose=0,
                                          checkpoint=checkpoint, resume=True), "optimizer")
    wide = Sequential([Dense(4, input_shape=(3,)), Dropout(0.5), Dense(1)], seed=1, dtype="float64")
    wide.compile(optimizer="adam", loss="mse")
    refused(ValueError, lambda: wide.fit(*DATA, epochs=4, batch_size=8, verbose=0,
                                         checkpoint=checkpoint, resume=True), "dtype")


# =========================================================================== 8 writes
def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _orphan(folder, target, pid, suffix=".npz"):
    path = folder / f".tmp-{target}.{pid}.abc123{suffix}"
    path.write_bytes(b"x" * 1000)
    return path


def test_8_the_next_save_removes_a_killed_writers_temporaries_and_only_those(tmp_path):
    dead = _dead_pid()
    orphans = [_orphan(tmp_path, "run.npz", dead), _orphan(tmp_path, "run.npz", dead, ".probe")]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _orphan(tmp_path, "run.npz", sleeper.pid)  # being written right now: kept
        other = _orphan(tmp_path, "other.npz", dead)  # another target's: not this save's
        _model().fit(*DATA, epochs=1, verbose=0, checkpoint=tmp_path / "run.npz")
        assert not any(path.exists() for path in orphans)
        assert live.exists() and other.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_8_a_resume_with_nothing_left_to_train_still_removes_orphans(checkpoint):
    orphan = _orphan(checkpoint.parent, "run.npz", _dead_pid())
    before = checkpoint.read_bytes()
    _model().fit(*DATA, epochs=2, batch_size=8, verbose=0, checkpoint=checkpoint, resume=True)
    assert not orphan.exists() and checkpoint.read_bytes() == before  # nothing was saved


def test_8_a_finished_simulation_resumed_removes_orphans(tmp_path):
    path = tmp_path / "sim.npz"
    simulate.run(ROSENBROCK, "sgd", np.zeros(2), 4, checkpoint=path, checkpoint_every=2)
    orphan = _orphan(tmp_path, "sim.npz", _dead_pid())
    simulate.run(ROSENBROCK, "sgd", np.zeros(2), 4, resume=path)
    assert not orphan.exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
def test_8_a_zombie_writer_counts_as_dead(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while not os.path.exists(f"/proc/{child.pid}") or open(f"/proc/{child.pid}/stat").read(
            ).rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)  # exited, not yet reaped
    orphan = _orphan(tmp_path, "run.npz", child.pid)
    assert _io.remove_orphans(tmp_path / "run.npz") == [orphan.name]
    child.wait()


def _figure(value):
    from gdsim import plots

    fig, ax = plots.new_figure()
    ax.plot([0, 1], [0, value])
    return fig


def test_8_a_failing_second_write_leaves_the_old_figure_pair_and_names_the_file(tmp_path,
                                                                                 monkeypatch):
    from gdsim import plots

    png, svg = plots.save(_figure(1), tmp_path, "fig")
    old = (png.read_bytes(), svg.read_bytes())
    real_writer = _io.figure_writer

    def disk_full_for_svg(figure, path, description, kwargs):
        if str(path).endswith(".svg"):
            def fail(handle):
                handle.write(b"<svg")  # a partial write, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
            return fail
        return real_writer(figure, path, description, kwargs)

    monkeypatch.setattr(_io, "figure_writer", disk_full_for_svg)
    message = refused(OSError, lambda: plots.save(_figure(2), tmp_path, "fig"), "fig.svg")
    assert "No space left" in message
    assert (png.read_bytes(), svg.read_bytes()) == old
    assert sorted(os.listdir(tmp_path)) == ["fig.png", "fig.svg"]


def test_8_a_failing_rename_rolls_the_first_file_back(tmp_path, monkeypatch):
    from gdsim import plots

    png, svg = plots.save(_figure(1), tmp_path, "fig")
    old = (png.read_bytes(), svg.read_bytes())
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith("fig.svg"):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(_io.os, "replace", replace)
    with pytest.raises(OSError):
        plots.save(_figure(2), tmp_path, "fig")
    monkeypatch.setattr(_io.os, "replace", real_replace)
    assert (png.read_bytes(), svg.read_bytes()) == old  # the new PNG was taken back
    assert sorted(os.listdir(tmp_path)) == ["fig.png", "fig.svg"]


def test_8_a_failed_checkpoint_save_keeps_the_old_one_and_no_temporary(checkpoint, monkeypatch):
    before = checkpoint.read_bytes()

    def full(handle, **arrays):
        handle.write(b"PK")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError):
        _model().fit(*DATA, epochs=4, batch_size=8, verbose=0, checkpoint=checkpoint, resume=True)
    assert checkpoint.read_bytes() == before
    assert os.listdir(checkpoint.parent) == ["run.npz"]


# =========================================================================== 9 helpers
def test_9_predicted_first_inf_epoch_refuses_a_zero_first_loss():
    refused(ValueError, lambda: regression.predicted_first_inf_epoch(0.0, 3.5, 32), "first_loss")


@pytest.mark.parametrize("call,name", [
    (lambda: regression.predicted_first_inf_epoch(1.0, 0.0, 32), "loss_ratio"),
    (lambda: regression.predicted_first_inf_epoch(1.0, 3.5, 0), "batch_size"),
    (lambda: regression.predicted_first_inf_epoch(math_inf(), 3.5, 32), "first_loss"),
    (lambda: regression.final_quantity(5, "sgd", "loss", epochs=0), "epochs"),
    (lambda: regression.final_quantity(5, "sgd", "kernel"), "which"),
    (lambda: regression.final_quantity(0, "sgd", "loss"), "n"),
    (lambda: surfaces.get("rosenbrock", a=1e39), "a"),
    (lambda: surfaces.get("rosenbrock", b=0), "b"),
    (lambda: surfaces.get("quadratic", condition_number=0.5), "condition_number"),
    (lambda: seed_cnn(dropout="False"), "dropout"),
    (lambda: seed_cnn(classes=1), "classes"),
])
def test_9_siblings_helpers_name_the_argument(call, name):
    message = refused((TypeError, ValueError), call, name)
    assert "LinAlgError" not in message


@pytest.mark.parametrize("call,names", [
    (lambda: analysis.convergence_rate(np.ones(10), start=7, stop=5), ("start", "stop")),
    (lambda: analysis.convergence_rate(True, 0, 1), ("values",)),
    (lambda: analysis.gd_optimal(np.full((3, 3), 20.0), 10.0), ("L", "mu")),
    (lambda: analysis.gd_growth_factors(np.ones((6, 3)), [1.0, 2.0]), ("lr", "eigenvalues")),
    (lambda: analysis.heavy_ball_spectral_radius([0.1, 0.2], [0.9, 0.8, 0.7], 1.0), ("lr", "beta")),
    (lambda: curvature.preconditioner(optim.Adam(), None), ("state",)),
    (lambda: curvature.stability_threshold(None), ("optimizer",)),
    (lambda: curvature.stability_threshold(optim.SGD(0.1), iterations=None), ("iterations",)),
    (lambda: curvature.preconditioned(lambda v: v, []), ("diagonal",)),
    (lambda: curvature.SharpnessCallback(X, Y, method=None), ("method",)),
    (lambda: curvature.sharpness_observer(ROSENBROCK, iterations=True), ("iterations",)),
    (lambda: curvature.sharpness_observer(None), ("problem",)),
    (lambda: regression.final_quantity(5, None, "loss"), ("optimizer",)),
    (lambda: edge_of_stability.chebyshev_data(points=-1), ("points",)),
    (lambda: edge_of_stability.chebyshev_data(degree=10**9), ("degree",)),
    (lambda: equivalent.to_torch("sgd"), ("optimizer",)),
    (lambda: equivalent.to_keras(optim.SGD(0.1)), ("optimizer",)),
])
def test_9_siblings_helpers_check_up_front_and_name_every_argument_involved(call, names):
    refused((TypeError, ValueError), call, *names)


def test_9_a_sharpness_where_the_hessian_overflows_is_nan_not_a_linalg_error():
    assert np.isnan(curvature.sharpness(lambda v: np.full(3, np.inf), 3))
    model = Sequential([Dense(1, input_shape=(3,))], dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    with np.errstate(all="ignore"):  # the overflow itself is expected
        sharp = curvature.model_sharpness(model, np.full((6, 3), 1e300), np.ones(6), iterations=3)
    assert np.isnan(sharp)


def test_9_long_windows_are_the_running_minimum():
    values = [3.0, 1.0, 2.0, 0.5]
    assert np.array_equal(spikes.baseline(values, window=10**30), spikes.baseline(values),
                          equal_nan=True)


def math_inf():
    return float("inf")


def test_9_a_model_with_every_layer_frozen_says_so():
    model = m()
    model.layers[0].trainable = False
    refused(ValueError, lambda: model.fit(X, Y, verbose=0), "trainable")


def test_9_dtype_none_is_keras_s_float32():
    assert Sequential(dtype=None).dtype == np.float32
    assert Sequential().dtype == np.float32


# =========================================================================== 10 CLI
def test_10_a_negative_looking_learning_rate_is_read_and_refused_with_its_range(capsys):
    cli_refused(capsys, "--lr", "regression", "--lr", "-1e-3", also=("> 0", "-0.001"))


@pytest.mark.parametrize("argv,flag,also", [
    (["regression", "--lr", "-inf"], "--lr", "finite"),
    (["regression", "--lr", "-5"], "--lr", "> 0"),
    (["regression", "--momentum", "-1e-9"], "--momentum", "[0.0, 1.0]"),
    (["regression", "--optimizer", "adam", "--epsilon", "-.5"], "--epsilon", "> 0"),
    (["regression", "--seed", "-1"], "--seed", ">= 0"),
    (["regression", "--epochs", "-1"], "--epochs", ">= 0"),
    (["regression", "--batch-size", "-32"], "--batch-size", ">= 1"),
    (["regression", "--n", "-20"], "--n", ">= 1"),
    (["analyze", "regression", "--lr", "-1E-3"], "--lr", "> 0"),
    (["reproduce", "cnn", "--epochs", "-2"], "--epochs", ">= 1"),
])
def test_10_siblings_negative_values_of_every_flag(capsys, argv, flag, also, tmp_path):
    if argv[0] == "reproduce":
        argv = argv + ["--out", str(tmp_path / "out")]
    cli_refused(capsys, flag, *argv, also=(also,))


def test_10_a_negative_value_that_is_valid_runs(capsys):
    status, out, err = run_cli(capsys, "regression", "--init-kernel", "-1e-3", "--epochs", "1",
                               "--n", "3", "--json")
    assert status == 0, err
    assert json.loads(out)["kernel"] is not None


def test_10_an_option_after_a_flag_is_still_a_missing_value(capsys):
    status, _, err = run_cli(capsys, "regression", "--lr", "--json")
    assert status == 2 and "--lr" in err and "expected one argument" in err


@pytest.mark.parametrize("argv,flag", [
    (["reproduce", "cnn", "--quick"], "--quick"),  # it ran the full CNN
    (["reproduce", "--out", "somewhere"], "--out"),  # it was ignored
    (["reproduce", "eos", "--out", "somewhere"], "--out"),
    (["figures", "--list", "--only", "divergence"], "--only"),
    (["regression", "--lr=--"], "--lr"),  # argparse handed the command an empty list
    (["regression", "--dtype", "5a"], "--dtype"),  # NumPy printed a DeprecationWarning
    (["figures", "--out", "/proc/none/x", "--only", "divergence", "--quick"], "--out"),
    (["explore", "--out", " ", "--quick"], "--out"),  # it wrote a file named ' '
])
def test_10_siblings_cli_options_that_were_ignored_or_ran_are_refused(capsys, argv, flag,
                                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli_refused(capsys, flag, *argv)
    assert os.listdir(tmp_path) == []
