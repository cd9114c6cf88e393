"""Fuzz the public API with bad inputs: only clear errors may come out.

Hypothesis picks an entry point, one of its arguments and a bad value for it (wrong type,
sign, rank, shape, non-finite, unknown name, empty...), keeping the other arguments valid. The
call must either succeed (some "odd" values are legal, e.g. a learning rate of 7) or raise a
``ValueError``/``TypeError`` whose message names the argument. Anything else -- IndexError,
ZeroDivisionError, FloatingPointError, a NumPy broadcasting error, a hang past the alarm --
fails the test. The number of bad inputs tried is printed in pytest's summary.
"""

import math
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
from tests import fuzz_cases as fc
from tests import fuzz_entries as fe
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
    try:
        with fc.time_limit(CALL_SECONDS), np.errstate(all="ignore"):
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


def test_the_fuzz_run_tried_at_least_a_thousand_bad_inputs():
    if fuzz_counter["tried"] == 0:
        pytest.skip("run together with test_bad_inputs_raise_only_clear_errors")
    assert fuzz_counter["tried"] >= 1000
    assert fuzz_counter["rejected"] >= 500  # most generated inputs really are bad


# ============================================================================ the sweep
# A seeded sweep over every public entry point (tests/fuzz_entries.py lists them and what each
# argument accepts; tests/fuzz_cases.py builds the values): each case is classified, and
# only "refused clearly" and "valid odd value" may occur. Expensive entry points (a CNN, the
# explorer, figures) are only called with values their kind refuses, so a valid value never
# starts a long run; nor does a valid value its kind calls long (epochs=10**6). The command
# line has its own sweep (tests/test_cli_fuzz.py).


SWEEP_SEED = 16
SWEEP_CALL_SECONDS = 10  # the hang bound of one call in the sweep
OUTCOMES = ("refused clearly", "valid odd value", "unclear error", "silently accepted", "hang",
            "crash")


def sweep_cases():
    """Every (entry, argument, value) of the sweep: the catalogue, the hostile arrays for data
    arguments, the hostile paths for path arguments, and seeded random draws."""
    rng = np.random.default_rng(SWEEP_SEED)
    cases = []
    for entry in sorted(fe.SWEEP):
        function, arguments, expensive = fe.SWEEP[entry]
        for argument in sorted(arguments):
            kind = arguments[argument]
            if kind.paths:
                values = fc.hostile_paths(fe.SWEEP_TMP) + fc.CATALOGUE[:12]
            else:
                values = list(fc.CATALOGUE) + fc.generated(kind, rng, 14)
                if kind.name == "array":
                    values += fc.ARRAYS
            for value in values:
                cases.append((entry, argument, value))
    return cases


def _run_case(entry, argument, value):
    """(outcome, detail) of one call, or None for a valid value that is not run."""
    function, arguments, expensive = fe.SWEEP[entry]
    kind = arguments[argument]
    valid = kind.valid(value)
    if valid and (expensive or not kind.cheap(value)):
        return None  # no bad input, only a long run
    try:
        with fc.time_limit(SWEEP_CALL_SECONDS), np.errstate(all="ignore"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            function(**{argument: value})
    except fc.Hang as exc:
        return "hang", str(exc)
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split()).lower()
        names = [argument] + fe.SWEEP_ALIASES.get(argument, [])
        clear = any(n.lower() in message for n in names) and "\n" not in str(exc).strip()
        return ("refused clearly" if clear else "unclear error"), str(exc)
    except Exception as exc:  # noqa: BLE001 - any other exception is a crash
        return "crash", f"{type(exc).__name__}: {exc}"
    return ("valid odd value" if valid else "silently accepted"), "returned"


def test_sweep_every_entry_point_refuses_bad_input_clearly(monkeypatch):
    monkeypatch.chdir(fe.SWEEP_TMP)  # a valid relative path lands here, not in the repo
    started = time.perf_counter()
    outcomes = Counter()
    bad = []
    for entry, argument, value in sweep_cases():
        result = _run_case(entry, argument, value)
        if result is None:
            continue
        outcome, detail = result
        outcomes[outcome] += 1
        if outcome not in ("refused clearly", "valid odd value"):
            bad.append(f"{outcome}: {entry}({argument}={fc_show(value)}) -> {detail[:160]}")
    total = sum(outcomes.values())
    fuzz_counter["sweep"] = total
    fuzz_counter["sweep_entries"] = len(fe.SWEEP)
    fuzz_counter["sweep_outcomes"] = dict(outcomes)
    fuzz_counter["sweep_seconds"] = time.perf_counter() - started
    assert len(fe.SWEEP) >= 60, f"the sweep covers only {len(fe.SWEEP)} entry points"
    assert total >= 5000, f"the sweep tried only {total} bad inputs"
    assert not bad, f"{len(bad)} of {total} cases were not clear refusals:\n" + "\n".join(bad)


def fc_show(value):
    text = " ".join(repr(value).split())
    return text if len(text) < 50 else text[:47] + "..."
