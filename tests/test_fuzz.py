"""Fuzz the public API with bad inputs: only clear errors may come out.

Hypothesis picks an entry point, one of its arguments and a bad value for it (wrong type,
sign, rank, shape, non-finite, unknown name, empty...), keeping the other arguments valid. The
call must either succeed (some "odd" values are legal, e.g. a learning rate of 7) or raise a
``ValueError``/``TypeError`` whose message names the argument. Anything else -- IndexError,
ZeroDivisionError, FloatingPointError, a NumPy broadcasting error, a hang past the alarm --
fails the test. The number of bad inputs tried is printed in pytest's summary.
"""

import contextlib
import io
import math
import os
import signal
import tempfile
import time
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdsim import cli, noise, optim, schedules, simulate, surfaces
from gdsim.optim.torch_form import lr_scheduler
from gdsim.nn import layers
from gdsim.nn.model import Sequential
from gdsim import _validate
from gdsim.studies.cnn import model as models
from gdsim.nn import callbacks as callbacks_module
from tests import fuzz_cases as fc
from gdsim.studies.cnn.data import real_fake_images
from gdsim.studies.xs_ys import regression, stability
from tests import fuzz_counter

CALL_SECONDS = 20  # the hang bound of one call


class _Object:
    def __repr__(self):
        return "<object>"


BAD_SCALARS = st.one_of(
    st.sampled_from([-1, 0, -0.5, -1e-12, math.nan, math.inf, -math.inf, 1.5, 1e308, -1e308,
                     "0.1", "", None, True, False, [], [1, 2], {}, (), complex(1, 1), _Object(),
                     np.float32(np.nan), np.array([1.0, 2.0]), np.zeros((2, 2))]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-1000, 1000),
    st.text(max_size=6),
)
#: arrays with the right number of samples (6) but another per-sample shape: they get past
#: the x/y length check and must still be rejected with the argument's name.
SIX_ROW_ARRAYS = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(
    lambda tail: np.ones((6, *tail)))
BAD_ARRAYS = st.one_of(
    BAD_SCALARS,
    SIX_ROW_ARRAYS,
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).map(
        lambda shape: np.ones(shape)),
    st.sampled_from([np.array([]), np.full(3, np.nan), np.array(["a", "b"]), np.ones((2, 3, 4, 5)),
                     np.array([[1.0, np.inf]]), np.ones((0, 2))]),
)


def small_model():
    model = Sequential([layers.Dense(2, input_shape=(3,)), layers.Activation("softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


XS = np.random.default_rng(0).random((6, 3))
YS = np.eye(2)[[0, 1, 0, 1, 0, 1]]
SEED_PROBLEM = surfaces.get("rosenbrock")


def _fit(x=XS, y=YS, batch_size=2, epochs=1, validation_split=0.0, shuffle=True, seed=0):
    return small_model().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                             validation_split=validation_split, shuffle=shuffle, seed=seed)


def _simulate(x0=np.zeros(2), steps=3, seed=0, dtype="float64", record="all", noise_scale=0.1):
    return simulate.run(SEED_PROBLEM, optim.Adam(0.01), x0, steps, seed=seed, dtype=dtype,
                        record=record, noise=noise.Gaussian(noise_scale))


def _step(params=np.zeros(3), grads=np.ones(3)):
    opt = optim.Adam()
    return opt.step(params, grads, opt.init(np.zeros(3)))


def _cli(n="20", lr="0.01", epochs="2", optimizer="sgd", batch_size="32"):
    """The CLI's exit status; argparse's own rejections (SystemExit 2) count as status 2."""
    try:
        return _cli_main(n, lr, epochs, optimizer, batch_size)
    except SystemExit as exit_:
        return exit_.code


def _cli_main(n, lr, epochs, optimizer, batch_size):
    return cli.main(["regression", "--n", str(n), "--lr", str(lr), "--epochs", str(epochs),
                     "--optimizer", str(optimizer), "--batch-size", str(batch_size), "--json"])


#: entry point -> (callable, {argument name: strategy of bad values})
ENTRY_POINTS = {
    "SGD": (optim.SGD, {"learning_rate": BAD_SCALARS, "momentum": BAD_SCALARS,
                        "nesterov": BAD_SCALARS}),
    "Adam": (optim.Adam, {"learning_rate": BAD_SCALARS, "beta_1": BAD_SCALARS,
                          "beta_2": BAD_SCALARS, "epsilon": BAD_SCALARS, "amsgrad": BAD_SCALARS}),
    "RMSprop": (optim.RMSprop, {"rho": BAD_SCALARS, "momentum": BAD_SCALARS,
                                "epsilon": BAD_SCALARS, "centered": BAD_SCALARS}),
    "Adagrad": (optim.Adagrad, {"initial_accumulator_value": BAD_SCALARS, "epsilon": BAD_SCALARS}),
    "optim.get": (optim.get, {"identifier": BAD_SCALARS}),
    "torch_form.SGD": (optim.torch_form.SGD, {"lr": BAD_SCALARS, "momentum": BAD_SCALARS,
                                              "dampening": BAD_SCALARS, "nesterov": BAD_SCALARS,
                                              "maximize": BAD_SCALARS}),
    "torch_form.Adam": (optim.torch_form.Adam, {"betas": BAD_SCALARS, "eps": BAD_SCALARS,
                                                "weight_decay": BAD_SCALARS, "amsgrad": BAD_SCALARS}),
    "torch_form.RMSprop": (optim.torch_form.RMSprop, {"alpha": BAD_SCALARS, "momentum": BAD_SCALARS,
                                                      "centered": BAD_SCALARS}),
    "torch_form.Adagrad": (optim.torch_form.Adagrad, {"lr_decay": BAD_SCALARS,
                                                      "initial_accumulator_value": BAD_SCALARS}),
    "OneCycleLR": (lambda max_lr=0.1, total_steps=10, pct_start=0.3, anneal_strategy="cos":
                   lr_scheduler.OneCycleLR(max_lr, total_steps, pct_start=pct_start,
                                           anneal_strategy=anneal_strategy),
                   {"max_lr": BAD_SCALARS, "total_steps": BAD_SCALARS, "pct_start": BAD_SCALARS,
                    "anneal_strategy": BAD_SCALARS}),
    "StepLR": (lambda lr=0.1, step_size=3, gamma=0.5, steps_per_epoch=1:
               lr_scheduler.StepLR(lr, step_size, gamma, steps_per_epoch),
               {"lr": BAD_SCALARS, "step_size": BAD_SCALARS, "gamma": BAD_SCALARS,
                "steps_per_epoch": BAD_SCALARS}),
    "Optimizer.step": (_step, {"params": BAD_ARRAYS, "grads": BAD_ARRAYS}),
    "ExponentialDecay": (lambda initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9:
                         schedules.ExponentialDecay(initial_learning_rate, decay_steps, decay_rate),
                         {"initial_learning_rate": BAD_SCALARS, "decay_steps": BAD_SCALARS,
                          "decay_rate": BAD_SCALARS}),
    "surfaces.get": (lambda name="quadratic": surfaces.get(name), {"name": BAD_SCALARS}),
    "quadratic": (lambda condition_number=10.0, dim=2: surfaces.get(
        "quadratic", condition_number=condition_number, dim=dim),
        {"condition_number": BAD_SCALARS, "dim": BAD_SCALARS}),
    "Surface.grad": (lambda x=np.zeros(2): SEED_PROBLEM.grad(x), {"x": BAD_ARRAYS}),
    "simulate.run": (_simulate, {"x0": BAD_ARRAYS, "steps": BAD_SCALARS, "seed": BAD_SCALARS,
                                 "dtype": BAD_SCALARS, "record": BAD_SCALARS,
                                 "noise_scale": BAD_SCALARS}),
    "Dense": (lambda units=3, activation=None: layers.Dense(units, activation=activation),
              {"units": BAD_SCALARS, "activation": BAD_SCALARS}),
    "Conv2D": (lambda filters=2, kernel_size=3, strides=1, padding="same",
               data_format="channels_last": layers.Conv2D(filters, kernel_size, strides=strides,
                                                          padding=padding, data_format=data_format),
               {"filters": BAD_SCALARS, "kernel_size": BAD_SCALARS, "strides": BAD_SCALARS,
                "padding": BAD_SCALARS, "data_format": BAD_SCALARS}),
    "BatchNormalization": (lambda axis=-1, momentum=0.99, epsilon=1e-3:
                           layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon),
                           {"axis": BAD_SCALARS, "momentum": BAD_SCALARS, "epsilon": BAD_SCALARS}),
    "MaxPooling2D": (lambda pool_size=2, strides=None, padding="valid":
                     layers.MaxPooling2D(pool_size, strides=strides, padding=padding),
                     {"pool_size": BAD_SCALARS, "strides": BAD_SCALARS, "padding": BAD_SCALARS}),
    "Dropout": (lambda rate=0.5: layers.Dropout(rate), {"rate": BAD_SCALARS}),
    "Sequential.fit": (_fit, {"x": BAD_ARRAYS, "y": BAD_ARRAYS, "batch_size": BAD_SCALARS,
                              "epochs": BAD_SCALARS, "validation_split": BAD_SCALARS,
                              "shuffle": BAD_SCALARS, "seed": BAD_SCALARS}),
    "Sequential.predict": (lambda x=XS: small_model().predict(x), {"x": BAD_ARRAYS}),
    "Sequential.compile": (lambda optimizer="sgd", loss="mse": small_model().compile(optimizer, loss),
                           {"optimizer": BAD_SCALARS, "loss": BAD_SCALARS}),
    "real_fake_images": (lambda n=8, size=8, channels=3, difficulty=0.5,
                         data_format="channels_last": real_fake_images(
                             n, size, channels, seed=0, difficulty=difficulty,
                             data_format=data_format),
                         {"n": BAD_SCALARS, "size": BAD_SCALARS, "channels": BAD_SCALARS,
                          "difficulty": BAD_SCALARS, "data_format": BAD_SCALARS}),
    "regression.run": (lambda n=5, kernel=0.1, epochs=2, batch_size=32: regression.run(
        n=n, kernel=kernel, epochs=epochs, batch_size=batch_size, predict_at=None),
        {"n": BAD_SCALARS, "kernel": BAD_SCALARS, "epochs": BAD_SCALARS,
         "batch_size": BAD_SCALARS}),
    "regression_stability": (lambda xs=np.arange(1.0, 5.0), lr=0.01:
                             stability.regression_stability(xs, lr),
                             {"xs": BAD_ARRAYS, "lr": BAD_SCALARS}),
    "cli regression": (_cli, {"n": BAD_SCALARS, "lr": BAD_SCALARS, "epochs": BAD_SCALARS,
                              "optimizer": BAD_SCALARS, "batch_size": BAD_SCALARS}),
}

#: words an error message may use for an argument instead of its exact name
ALIASES = {"kernel": ["init_kernel"], "noise_scale": ["scale"], "x0": ["x0", "x"],
           "identifier": ["optimizer"], "lr": ["lr", "learning_rate"],
           "batch_size": ["batch_size", "batch-size"], "dim": ["dim", "eigenvalues"],
           "name": ["surface", "name"]}


def _alarm(signum, frame):
    raise TimeoutError(f"a call took longer than {CALL_SECONDS} s")


@st.composite
def bad_calls(draw):
    entry = draw(st.sampled_from(sorted(ENTRY_POINTS)))
    function, arguments = ENTRY_POINTS[entry]
    argument = draw(st.sampled_from(sorted(arguments)))
    return entry, function, argument, draw(arguments[argument])


@settings(max_examples=1200, suppress_health_check=list(HealthCheck), deadline=None)
@given(bad_calls())
def test_bad_inputs_raise_only_clear_errors(call):
    entry, function, argument, value = call
    fuzz_counter["tried"] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CALL_SECONDS)
    try:
        with np.errstate(all="ignore"):
            result = function(**{argument: value})
    except (ValueError, TypeError) as exc:
        fuzz_counter["rejected"] += 1
        message = str(exc).lower()
        names = [argument] + ALIASES.get(argument, [])
        assert any(name.lower() in message for name in names), (
            f"{entry}({argument}={value!r}) raised an error that does not name "
            f"{argument!r}: {exc}")
        assert "\n" not in str(exc).strip(), f"{entry}: the message should be one line: {exc}"
    else:
        if entry == "cli regression":  # the CLI reports bad input through its exit status
            fuzz_counter["rejected"] += result == 2
            assert result in (0, 2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_fuzz_run_tried_at_least_a_thousand_bad_inputs():
    if fuzz_counter["tried"] == 0:
        pytest.skip("run together with test_bad_inputs_raise_only_clear_errors")
    assert fuzz_counter["tried"] >= 1000
    assert fuzz_counter["rejected"] >= 500  # most generated inputs really are bad


# ============================================================================ the sweep
# A seeded sweep over every public entry point and CLI command (tests/fuzz_cases.py builds
# the values): each case is classified, and only "refused clearly" and "valid odd value"
# may occur. Expensive entry points (a CNN, the CLI's training commands) are only called
# with values their kind refuses, so a valid value never starts a long run.


SWEEP_SEED = 16
SWEEP_CALL_SECONDS = 10  # the hang bound of one call in the sweep
OUTCOMES = ("refused clearly", "valid odd value", "unclear error", "silently accepted", "hang",
            "crash")
SWEEP_TMP = tempfile.mkdtemp(prefix="gdsim-fuzz-")


def _real_array(rank_ok, dtype=np.float64):
    """Valid: real (bool/int/float) values, finite in ``dtype``, non-empty, rank/shape ok."""
    def valid(v):
        if isinstance(v, (str, bytes, bytearray, type)) or v is None:
            return False
        try:
            a = np.asarray(v)
        except (ValueError, TypeError, OverflowError):
            return False
        if a.dtype.kind not in "biuf" or a.size == 0 or not rank_ok(a.shape):
            return False
        with np.errstate(all="ignore"):
            return bool(np.all(np.abs(a.astype(np.float64)) <= np.finfo(dtype).max))
    return fc.Kind("array", valid)


def _compiled(metrics=None):
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse", metrics=metrics)
    return model


X6 = np.ones((6, 3))
Y6 = np.ones(6)
ROWS_X = _real_array(lambda s: s == (6, 3), np.float32)
ROWS_Y = _real_array(lambda s: s in ((6,), (6, 1)), np.float32)
POINT2 = _real_array(lambda s: len(s) >= 1 and s[-1] == 2)
POS_INT = fc.int_at_least(1)
NONNEG_INT = fc.int_at_least(0)
SEED = fc.int_at_least(0, 2**64)
NOT_A_PATH = fc.NONE
#: any epochs >= 0 are valid; only up to 3 are run (more would be a long run, not a bad input)
SOME_EPOCHS = fc.int_at_least(0, 3)
WRITABLE = fc.Kind("a writable file path or None", lambda v: v is None or (
    isinstance(v, str) and v.strip() != "" and not os.path.isdir(v)
    and os.path.isdir(os.path.dirname(os.path.abspath(v)))))


def _fit(**kw):
    args = dict(x=X6, y=Y6, batch_size=3, epochs=1, verbose=0)
    args.update(kw)
    return _compiled().fit(**args)


def _sim(**kw):
    args = dict(problem=SEED_PROBLEM, optimizer="sgd", x0=np.zeros(2), steps=2)
    args.update(kw)
    return simulate.run(**args)


def _cli_status(argv):
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


def _cli_flag(command, flag, base=()):
    """A CLI entry point: ``--flag VALUE`` appended to ``command``; judged by exit status."""
    def call(value):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            status = _cli_status([*command, *base, f"--{flag}", str(value)])
        if status == 2:
            raise ValueError(err.getvalue().strip())
        return status
    return call



#: entry point -> (callable taking one keyword, {argument: kind}, expensive)
SWEEP = {
    "SGD": (lambda **k: optim.SGD(**k), {"learning_rate": fc.hyper(fc.POSITIVE), "momentum": fc.hyper(fc.UNIT),
                                           "nesterov": fc.BOOL}, False),
    "Adam": (lambda **k: optim.Adam(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                             "beta_1": fc.hyper(fc.UNIT_OPEN),
                                             "beta_2": fc.hyper(fc.UNIT_OPEN), "epsilon": fc.hyper(fc.POSITIVE),
                                             "amsgrad": fc.BOOL, "weight_decay": fc.or_none(fc.hyper(fc.NONNEG)),
                                             "clipnorm": fc.or_none(fc.POSITIVE)}, False),
    "RMSprop": (lambda **k: optim.RMSprop(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                                   "rho": fc.hyper(fc.UNIT_OPEN),
                                                   "momentum": fc.hyper(fc.UNIT),
                                                   "centered": fc.BOOL}, False),
    "Adagrad": (lambda **k: optim.Adagrad(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                                   "initial_accumulator_value": fc.hyper(fc.NONNEG),
                                                   "epsilon": fc.hyper(fc.POSITIVE)}, False),
    "torch_form.SGD": (lambda **k: optim.torch_form.SGD(**{"lr": 0.1, **k}),
                       {"lr": fc.hyper(fc.NONNEG), "momentum": fc.hyper(fc.NONNEG), "nesterov": fc.BOOL}, False),
    "ExponentialDecay": (lambda **k: schedules.ExponentialDecay(**{
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, **k}),
        {"initial_learning_rate": fc.hyper(fc.NONNEG), "decay_steps": fc.POSITIVE}, False),
    "surfaces.rosenbrock": (lambda **k: surfaces.get("rosenbrock", **k),
                            {"a": fc.Kind("|a| <= 1e6", lambda v: fc._finite(v) and abs(float(v)) <= 1e6),
                             "b": fc.Kind("0 < b <= 1e12", lambda v: fc._finite(v) and 0 < float(v) <= 1e12),
                             "dim": fc.int_at_least(2, 10**6)}, False),
    "surfaces.quadratic": (lambda **k: surfaces.get("quadratic", **k),
                           {"dim": fc.or_none(fc.int_at_least(1, 500)),
                            "condition_number": fc.or_none(fc.Kind(">= 1", lambda v: fc._finite(v) and float(v) >= 1))},
                           False),
    "Surface.grad": (lambda **k: SEED_PROBLEM.grad(**k), {"x": POINT2}, False),
    "noise.Gaussian": (lambda **k: noise.Gaussian(**k), {"scale": fc.hyper(fc.NONNEG)}, False),
    "simulate.run": (_sim, {"x0": POINT2, "steps": fc.int_at_least(0, 1000),
                            "seed": fc.or_none(fc.int_at_least(0, 10**500)),
                            "checkpoint": fc.or_none(NOT_A_PATH), "resume": fc.or_none(fc.NONE),
                            "dtype": fc.Kind("float dtype", lambda v: v is None or any(v is t for t in (float, np.float32, np.float64)) or (
                                isinstance(v, str) and v in ("float32", "float64")))}, False),
    "Dense": (lambda **k: layers.Dense(**{"units": 2, **k}), {"units": fc.int_at_least(1, 10**500)}, False),
    "Dropout": (lambda **k: layers.Dropout(**{"rate": 0.5, **k}), {"rate": fc.UNIT}, False),
    "Sequential": (lambda **k: Sequential(**k), {"layers": fc.Kind(
        "list of layers", lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 0)),
        "seed": fc.int_at_least(0, 2**128 - 1), "dtype": fc.Kind(
            "float dtype", lambda v: v is None or any(v is t for t in (float, np.float32, np.float64)) or (
                isinstance(v, str) and v in ("float32", "float64"))),
        "background": fc.BOOL}, False),
    "Sequential.build": (lambda **k: Sequential([layers.Dense(1)]).build(**k),
                         {"input_shape": fc.Kind("shape", lambda v: (
                             fc._integer(v) and 1 <= v <= 10**6) or (isinstance(v, (list, tuple)) and len(v) > 0 and all(
                                 fc._integer(d) and 1 <= d <= 10**6 for d in v) and np.prod(v) <= 10**6))}, False),
    "Sequential.set_weights": (lambda **k: _compiled().set_weights(**k), {"weights": fc.NONE}, False),
    "Sequential.compile": (lambda **k: _compiled().compile(**{"optimizer": "sgd", "loss": "mse", **k}),
                           {"metrics": fc.Kind("list of metric names", lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 0)),
                            "optimizer": fc.NONE, "loss": fc.NONE}, False),
    "Sequential.fit": (_fit, {"x": ROWS_X, "y": ROWS_Y, "batch_size": fc.or_none(fc.int_at_least(1, 10**500)),
                              "epochs": SOME_EPOCHS,
                              "validation_split": fc.Kind("[0, 1)", lambda v: fc._finite(v) and (
                                  float(v) == 0 or 1 / 6 <= float(v) < 5 / 6)),
                              "stream": fc.or_none(fc.NONE), "checkpoint": WRITABLE, "seed": fc.or_none(SEED),
                              "shuffle": fc.Kind("bool/batch/keras", lambda v: isinstance(v, (bool, np.bool_)) or (isinstance(v, str) and v in ("batch", "keras")))},
                       False),
    "Sequential.predict": (lambda **k: _compiled().predict(**k),
                           {"x": _real_array(lambda s: len(s) == 2 and s[1] == 3 and s[0] > 0, np.float32)}, False),
    "EarlyStopping": (lambda **k: callbacks_module.EarlyStopping(**k),
                      {"monitor": fc.Kind("name", lambda v: isinstance(v, str) and v != ""),
                       "patience": fc.int_at_least(0, 10**500), "min_delta": fc.FINITE,
                       "mode": fc.choice("auto", "min", "max")}, False),
    "regression.run": (lambda **k: regression.run(**{"n": 5, "epochs": 1, "predict_at": None, **k}),
                       {"n": fc.int_at_least(1, 10**6), "kernel": fc.FINITE32, "bias": fc.FINITE32,
                        "epochs": SOME_EPOCHS, "batch_size": fc.or_none(fc.int_at_least(1, 10**500))}, False),
    "regression.predicted_first_inf_epoch": (
        lambda **k: regression.predicted_first_inf_epoch(**{"first_loss": 1.0, "loss_ratio": 3.5,
                                                             "batch_size": 32, **k}),
        {"first_loss": fc.POSITIVE, "loss_ratio": fc.POSITIVE, "batch_size": fc.int_at_least(1, 10**500)}, False),
    "regression.final_quantity": (lambda **k: regression.final_quantity(**{
        "n": 5, "optimizer_name": "sgd", "which": "loss", **k}),
        {"epochs": fc.int_at_least(1, 10**500), "n": fc.int_at_least(1, 10**6), "which": fc.choice("loss", "predict")}, False),
    "regression_stability": (lambda **k: stability.regression_stability(**{"xs": np.arange(1.0, 5.0), "lr": 0.01, **k}),
                             {"lr": fc.hyper(fc.POSITIVE)}, False),
    "real_fake_images": (lambda **k: real_fake_images(**{"n": 4, "size": 8, **k}),
                         {"n": fc.Kind("n >= 2 within the memory limit", lambda v: fc._integer(v) and v >= 2 and 36 * v * 192 <= _validate.memory_limit()),
                          "difficulty": fc.UNIT}, True),
    "seed_cnn": (lambda **k: models.seed_cnn(**k), {"dropout": fc.BOOL, "classes": fc.int_at_least(2)}, True),
    "cli regression": (lambda value, flag: _cli_flag(["regression"], flag, ("--n", "5", "--epochs", "1", "--json"))(value),
                       {"lr": fc.POSITIVE, "momentum": fc.UNIT, "n": fc.int_at_least(1, 10**8),
                        "init-kernel": fc.FINITE32, "epochs": fc.int_at_least(0, 10**500),
                        "batch-size": fc.int_at_least(1, 10**500), "seed": fc.int_at_least(0, 10**500), "predict": fc.FINITE32,
                        "dtype": fc.choice("float32", "float64")}, True),
    "cli analyze regression": (lambda value, flag: _cli_flag(["analyze", "regression"], flag, ("--json",))(value),
                               {"n": fc.int_at_least(1, 10**6), "lr": fc.POSITIVE}, True),
    "cli reproduce cnn": (lambda value, flag: _cli_flag(["reproduce", "cnn"], flag, ("--json",))(value),
                          {"n": fc.int_at_least(8), "epochs": fc.int_at_least(1, 10**500)}, True),
    "cli figures": (lambda value, flag: _cli_flag(["figures"], flag, ("--quick",))(value),
                    {"only": fc.choice(*__import__("gdsim.figures").figures.names()),
                     }, True),  # --out: since main's packaging branch it creates the folder
}

#: CLI flags' values are strings: their kinds see the value as typed
CLI_ALIASES = {"init-kernel": ["init_kernel"], "batch-size": ["batch_size"], "lr": ["learning_rate"],
               "predict": ["predict"]}
SWEEP_ALIASES = {"x0": ["x"], "kernel": ["init_kernel"], "bias": ["init_bias"],
                 "layers": ["layer"], "weights": ["weight"], "metrics": ["metric"],
                 "input_shape": ["input_shape"], "classes": ["classes"]}


def _cli_typed(value, flag):
    """What a CLI value means once typed: an int/float flag's text parsed as argparse would."""
    text = str(value)
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def sweep_cases():
    """Every (entry, argument, value) of the sweep: the catalogue, the hostile arrays for data
    arguments, the hostile paths for path arguments, and seeded random draws."""
    rng = np.random.default_rng(SWEEP_SEED)
    cases = []
    for entry in sorted(SWEEP):
        function, arguments, expensive = SWEEP[entry]
        for argument in sorted(arguments):
            kind = arguments[argument]
            if kind is NOT_A_PATH and argument in ("checkpoint", "resume"):
                values = fc.hostile_paths(SWEEP_TMP) + fc.CATALOGUE[:12]
            else:
                values = list(fc.CATALOGUE) + fc.generated(kind, rng, 14)
                if isinstance(kind, fc.Kind) and kind.name == "array":
                    values += fc.ARRAYS
            for value in values:
                cases.append((entry, argument, value))
    return cases


def _run_case(entry, argument, value):
    function, arguments, expensive = SWEEP[entry]
    kind = arguments[argument]
    is_cli = entry.startswith("cli ")
    judged = _cli_typed(value, argument) if is_cli else value
    if is_cli and kind.name.startswith("one of"):
        judged = str(value)
    valid = kind.valid(judged)
    if argument == "epochs" and fc._integer(judged) and judged > 3:
        return None  # valid, only long: not run
    if expensive and valid:
        return None  # never start a long run: only refusals are checked here
    previous = signal.signal(signal.SIGALRM, _sweep_alarm)
    signal.alarm(SWEEP_CALL_SECONDS)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_cli:
                function(value, argument)
            else:
                function(**{argument: value})
    except TimeoutError:
        return "hang", "timeout"
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split()).lower()
        names = [argument, argument.replace("-", "_")] + SWEEP_ALIASES.get(argument, []) + CLI_ALIASES.get(argument, [])
        clear = any(n.lower() in message for n in names) and "\n" not in str(exc).strip()
        return ("refused clearly" if clear else "unclear error"), str(exc)
    except Exception as exc:  # noqa: BLE001 - any other exception is a crash
        return "crash", f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return ("valid odd value" if valid else "silently accepted"), "returned"


def _sweep_alarm(signum, frame):
    raise TimeoutError




def test_sweep_every_entry_point_refuses_bad_input_clearly(monkeypatch):
    monkeypatch.chdir(SWEEP_TMP)  # a valid relative checkpoint path lands here, not in the repo
    started = time.perf_counter()
    outcomes = Counter()
    per_class = Counter()
    bad = []
    for entry, argument, value in sweep_cases():
        result = _run_case(entry, argument, value)
        if result is None:
            continue
        outcome, detail = result
        outcomes[outcome] += 1
        per_class[(entry, outcome)] += 1
        if outcome not in ("refused clearly", "valid odd value"):
            bad.append(f"{outcome}: {entry}({argument}={fc_show(value)}) -> {detail[:160]}")
    total = sum(outcomes.values())
    fuzz_counter["sweep"] = total
    fuzz_counter["sweep_outcomes"] = dict(outcomes)
    fuzz_counter["sweep_seconds"] = time.perf_counter() - started
    assert total >= 5000, f"the sweep tried only {total} bad inputs"
    assert not bad, f"{len(bad)} of {total} cases were not clear refusals:\n" + "\n".join(bad)


def fc_show(value):
    text = " ".join(repr(value).split())
    return text if len(text) < 50 else text[:47] + "..."
