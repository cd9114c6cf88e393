"""The public entry points the fuzz sweep (tests/test_fuzz.py) calls, and what each argument
accepts.

``SWEEP`` maps an entry point's name to ``(call, {argument: kind}, expensive)``: ``call``
takes one keyword (the fuzzed argument) and fills the others with valid values; a kind
(:class:`tests.fuzz_cases.Kind`) says which values are valid -- those are the deliberately
valid odd values, and every other value must be refused with a clear error naming the
argument. ``expensive`` entry points are only called with values their kind refuses, so a
valid value never starts a long run. The command line has its own fuzz
(tests/test_cli_fuzz.py).

The entry points cover the public API module by module: optimizers (Keras and PyTorch form)
and their learning-rate schedules, surfaces (``get`` and every family), noise, problems,
``simulate.run``, analysis and spikes, curvature, datasets, the nn layers, ``Sequential``'s
methods, callbacks, losses and metrics, the case studies, the explorer, plots and figures.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from gdsim import (_validate, analysis, curvature, datasets, figures, noise, optim, plots,
                   problems, schedules, simulate, spikes, surfaces)
from gdsim.explorer import page as explorer_page
from gdsim.nn import activations, callbacks, initializers, layers, losses, metrics
from gdsim.nn.model import Sequential
from gdsim.optim import equivalent, torch_form
from gdsim.optim.torch_form import lr_scheduler
from gdsim.studies import edge_of_stability
from gdsim.studies.cnn import model as cnn_model
from gdsim.studies.cnn.data import make_data, real_fake_images
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.xs_ys import data as xs_ys_data, regression, stability
from tests import fuzz_cases as fc

SWEEP_TMP = tempfile.mkdtemp(prefix="gdsim-fuzz-")
SEED_PROBLEM = surfaces.get("rosenbrock")
LIMIT = _validate.memory_limit()


def _compiled(metrics=None, dtype="float32"):
    model = Sequential([layers.Dense(1, input_shape=(3,))], dtype=dtype)
    model.compile(optimizer="sgd", loss="mse", metrics=metrics)
    return model


X6 = np.ones((6, 3))
Y6 = np.ones(6)
ROWS_X = fc.real_array(lambda s: s == (6, 3), np.float32)
ROWS_Y = fc.real_array(lambda s: s in ((6,), (6, 1)), np.float32)
POINT2 = fc.real_array(lambda s: len(s) >= 1 and s[-1] == 2)
VECTOR = fc.real_array(lambda s: len(s) == 1)
SEED = fc.int_at_least(0, 2**64)
NOT_A_PATH = fc.PATH_REFUSED
#: any epochs >= 0 are valid; only up to 3 are run (more would be a long run, not a bad input)
SOME_EPOCHS = fc.int_at_least(0, 10**500, cheap_up_to=3)
WRITABLE = fc.Kind("a writable file path or None", lambda v: v is None or (
    isinstance(v, str) and v.strip() != "" and not os.path.isdir(v)
    and os.path.isdir(os.path.dirname(os.path.abspath(v)))), paths=True)
FLOAT_DTYPE = fc.Kind("float dtype", lambda v: v is None or any(v is t for t in (float, np.float32, np.float64)) or (
    isinstance(v, str) and v in ("float32", "float64")))
FLOAT_DTYPE_NOT_NONE = fc.where(FLOAT_DTYPE, lambda v: v is not None)
POSITIVE_ARRAY = fc.real_array(element=lambda a: bool(np.all(a > 0)))
REAL_ARRAY = fc.real_array()
SHAPE = fc.Kind("shape", lambda v: (fc._integer(v) and 1 <= v <= 10**6) or (
    isinstance(v, (list, tuple)) and len(v) > 0 and all(fc._integer(d) and 1 <= d <= 2**31 for d in v)))
OPTIMIZER_NAME = fc.Kind("optimizer name", lambda v: isinstance(v, str) and v.lower() in ("sgd", "adam", "rmsprop", "adagrad"))
SCHEDULE_LR = fc.NONNEG  # an initial learning rate of 0 is allowed (a frozen schedule)


def _fit(**kw):
    args = dict(x=X6, y=Y6, batch_size=3, epochs=1, verbose=0)
    args.update(kw)
    return _compiled().fit(**args)


def _sim(**kw):
    args = dict(problem=SEED_PROBLEM, optimizer="sgd", x0=np.zeros(2), steps=2)
    args.update(kw)
    return simulate.run(**args)


def _step(**kw):
    opt = optim.Adam()
    args = dict(params=np.zeros(3), grads=np.ones(3))
    args.update(kw)
    return opt.step(args["params"], args["grads"], opt.init(np.zeros(3)))


def _schedule_call(step):
    return schedules.ExponentialDecay(0.1, 10, 0.9)(step)


def _figure():
    fig, ax = plots.new_figure()
    ax.plot([0, 1], [0, 1])
    return fig


FIGURE = None


def _plots_save(**kw):
    global FIGURE
    if FIGURE is None:
        FIGURE = _figure()
    args = dict(fig=FIGURE, out_dir=SWEEP_TMP, stem="fuzz", formats=("png",))
    args.update(kw)
    return plots.save(**args)


def _matvec(v):
    return 2.0 * np.asarray(v)


def _opt_state_load(path):
    return optim.OptState.load(path)


def _opt_state_save(path):
    return optim.OptState(np.array(0), {}).save(path)


def _adam_state():
    opt = optim.Adam(0.01)
    state = opt.init(np.zeros(3))
    _, state = opt.step(np.zeros(3), np.ones(3), state)
    return state


LOSS_NAMES = ("MSE", "binary_crossentropy", "categorical_crossentropy", "half_mean_squared_error",
              "mean_squared_error", "mse", "sparse_categorical_crossentropy")
METRIC_NAMES = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy")
ACTIVATION_NAMES = ("linear", "relu", "sigmoid", "softmax", "tanh")
INITIALIZER_NAMES = ("constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
                     "lecun_normal", "ones", "random_normal", "random_uniform", "variance_scaling", "zeros")
PRESET_NAMES = ("bowl", "bowl-1", "bowl-10", "bowl-100", "double_well", "himmelblau", "rosenbrock", "saddle")

def _cnn_fits(height=32, width=32, depth=3):
    """The seed CNN's weights fit in the memory limit (its own up-front estimate)."""
    return 32 * ((height // 4) * (width // 4) * 32 * 64 + 9 * depth * 16) <= LIMIT


def _broadcasts(*shapes):
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _mse_shapes_fit(true_shape, pred_shape):
    """Keras's rank rule (ranks one apart, the longer ending in 1: a rank-1 side gets a
    trailing 1, else the longer loses it), then y_true must broadcast onto y_pred."""
    t, p = tuple(true_shape), tuple(pred_shape)
    if len(t) == len(p) + 1 and t[-1] == 1:
        p, t = (p + (1,), t) if len(p) == 1 else (p, t[:-1])
    elif len(p) == len(t) + 1 and p[-1] == 1:
        t, p = (t + (1,), p) if len(t) == 1 else (t, p[:-1])
    try:
        return np.broadcast_shapes(t, p) == p
    except ValueError:
        return False


def _diagonal_ok(v):
    if isinstance(v, (list, tuple)):
        if not v:
            return False
        parts = [np.asarray(d) for d in v]
        if any(part.dtype.kind not in "biuf" for part in parts):
            return False
        v = np.concatenate([part.ravel() for part in parts])
    a = np.asarray(v)
    return (a.dtype.kind in "biuf" and a.ndim == 1 and a.size > 0
            and bool(np.all(np.isfinite(a.astype(float)) & (a > 0))))


MU = fc.real_array(element=lambda a: bool(np.all((a > 0) & (a <= 10))))  # beside L = 10
BIG_L = fc.real_array(element=lambda a: bool(np.all(a >= 1)))  # beside mu = 1

#: entry point -> (callable taking one keyword, {argument: kind}, expensive)
SWEEP = {
    # ------------------------------------------------------------------ optimizers (Keras form)
    "SGD": (lambda **k: optim.SGD(**k), {"learning_rate": fc.hyper(fc.POSITIVE), "momentum": fc.hyper(fc.UNIT),
                                           "nesterov": fc.BOOL}, False),
    "SGD clipping": (lambda **k: optim.SGD(0.1, **k), {
        "weight_decay": fc.or_none(fc.hyper(fc.NONNEG)), "clipnorm": fc.or_none(fc.POSITIVE),
        "clipvalue": fc.or_none(fc.POSITIVE), "global_clipnorm": fc.or_none(fc.POSITIVE)}, False),
    "GD": (lambda **k: optim.GD(**k), {"learning_rate": fc.hyper(fc.POSITIVE), "momentum": fc.hyper(fc.UNIT)}, False),
    "Adam": (lambda **k: optim.Adam(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                             "beta_1": fc.hyper(fc.UNIT_OPEN),
                                             "beta_2": fc.hyper(fc.UNIT_OPEN), "epsilon": fc.hyper(fc.POSITIVE),
                                             "amsgrad": fc.BOOL, "weight_decay": fc.or_none(fc.hyper(fc.NONNEG)),
                                             "clipnorm": fc.or_none(fc.POSITIVE)}, False),
    "RMSprop": (lambda **k: optim.RMSprop(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                                   "rho": fc.hyper(fc.UNIT_OPEN),
                                                   "momentum": fc.hyper(fc.UNIT),
                                                   "epsilon": fc.hyper(fc.POSITIVE),
                                                   "centered": fc.BOOL}, False),
    "Adagrad": (lambda **k: optim.Adagrad(**k), {"learning_rate": fc.hyper(fc.POSITIVE),
                                                   "initial_accumulator_value": fc.hyper(fc.NONNEG),
                                                   "epsilon": fc.hyper(fc.POSITIVE)}, False),
    "optim.get": (lambda **k: optim.get(**k), {"identifier": OPTIMIZER_NAME}, False),
    "Optimizer.step": (_step, {"params": fc.real_array(lambda s: s == (3,)),
                               "grads": fc.real_array(lambda s: s == (3,))}, False),
    "OptState.load": (lambda **k: _opt_state_load(**k), {"path": NOT_A_PATH}, False),
    "OptState.save": (lambda **k: _opt_state_save(**k), {"path": WRITABLE}, False),
    # ------------------------------------------------------------------ optimizers (PyTorch form)
    "torch_form.SGD": (lambda **k: torch_form.SGD(**{"lr": 0.1, **k}),
                       {"lr": fc.hyper(fc.NONNEG), "momentum": fc.hyper(fc.NONNEG), "nesterov": fc.BOOL,
                        "dampening": fc.hyper(fc.NONNEG), "weight_decay": fc.hyper(fc.NONNEG),
                        "maximize": fc.BOOL}, False),
    "torch_form.Adam": (lambda **k: torch_form.Adam(**k), {
        "lr": fc.hyper(fc.NONNEG), "eps": fc.hyper(fc.NONNEG), "weight_decay": fc.hyper(fc.NONNEG),
        "amsgrad": fc.BOOL, "betas": fc.Kind("(beta1, beta2) in [0, 1)", lambda v: isinstance(v, tuple) and len(v) == 2
                                             and all(fc.UNIT_OPEN.valid(b) for b in v))}, False),
    "torch_form.AdamW": (lambda **k: torch_form.AdamW(**k), {
        "lr": fc.hyper(fc.NONNEG), "weight_decay": fc.hyper(fc.NONNEG), "maximize": fc.BOOL}, False),
    "torch_form.RMSprop": (lambda **k: torch_form.RMSprop(**k), {
        "lr": fc.hyper(fc.NONNEG), "alpha": fc.hyper(fc.UNIT), "eps": fc.hyper(fc.NONNEG),
        "momentum": fc.hyper(fc.NONNEG), "centered": fc.BOOL}, False),
    "torch_form.Adagrad": (lambda **k: torch_form.Adagrad(**k), {
        "lr": fc.hyper(fc.NONNEG), "lr_decay": fc.hyper(fc.NONNEG),
        "initial_accumulator_value": fc.hyper(fc.NONNEG), "eps": fc.hyper(fc.NONNEG)}, False),
    "equivalent.to_torch": (lambda **k: equivalent.to_torch(**k), {"optimizer": fc.NONE}, False),
    "equivalent.to_keras": (lambda **k: equivalent.to_keras(**k), {"optimizer": fc.NONE}, False),
    # ------------------------------------------------------------------ schedules
    "ExponentialDecay": (lambda **k: schedules.ExponentialDecay(**{
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, **k}),
        {"initial_learning_rate": fc.hyper(SCHEDULE_LR), "decay_steps": fc.POSITIVE,
         "decay_rate": fc.POSITIVE, "staircase": fc.BOOL}, False),
    "InverseTimeDecay": (lambda **k: schedules.InverseTimeDecay(**{
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, **k}),
        {"initial_learning_rate": fc.hyper(SCHEDULE_LR), "decay_steps": fc.POSITIVE,
         "decay_rate": fc.NONNEG, "staircase": fc.BOOL}, False),
    "legacy_decay": (lambda **k: schedules.legacy_decay(**{"learning_rate": 0.1, "decay": 0.01, **k}),
                     {"learning_rate": fc.hyper(SCHEDULE_LR), "decay": fc.NONNEG}, False),
    "PiecewiseConstantDecay": (lambda **k: schedules.PiecewiseConstantDecay(**{
        "boundaries": [10], "values": [0.1, 0.01], **k}),
        {"boundaries": fc.Kind("one increasing integer", lambda v: isinstance(v, (list, tuple)) and len(v) == 1 and fc._integer(v[0])),
         "values": fc.Kind("two reals >= 0", lambda v: (isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim == 1)) and len(v) == 2
                           and all(fc.NONNEG.valid(x) for x in v))}, False),
    "PolynomialDecay": (lambda **k: schedules.PolynomialDecay(**{
        "initial_learning_rate": 0.1, "decay_steps": 10, **k}),
        {"initial_learning_rate": fc.hyper(SCHEDULE_LR), "decay_steps": fc.POSITIVE,
         "end_learning_rate": fc.NONNEG, "power": fc.POSITIVE, "cycle": fc.BOOL}, False),
    "CosineDecay": (lambda **k: schedules.CosineDecay(**{"initial_learning_rate": 0.1, "decay_steps": 10, **k}),
                    {"initial_learning_rate": fc.hyper(SCHEDULE_LR), "decay_steps": fc.POSITIVE,
                     "alpha": fc.UNIT, "warmup_steps": fc.NONNEG}, False),
    "CosineDecayRestarts": (lambda **k: schedules.CosineDecayRestarts(**{
        "initial_learning_rate": 0.1, "first_decay_steps": 10, **k}),
        {"initial_learning_rate": fc.hyper(SCHEDULE_LR), "first_decay_steps": fc.POSITIVE,
         "t_mul": fc.POSITIVE, "m_mul": fc.NONNEG, "alpha": fc.UNIT}, False),
    "Constant": (lambda **k: schedules.Constant(**k), {"learning_rate": fc.hyper(SCHEDULE_LR)}, False),
    "FromCallable": (lambda **k: schedules.FromCallable(**k), {"fn": fc.NONE}, False),
    "Schedule(step)": (lambda **k: _schedule_call(**k), {"step": fc.Kind("integer steps >= 0", lambda v: (
        fc._integer(v) and 0 <= v < 2**63) or (not isinstance(v, (str, bytes, bytearray)) and np.asarray(v).dtype.kind in "iu"
                                                and np.asarray(v).size > 0 and bool(np.all(np.asarray(v) >= 0))))}, False),
    "StepLR": (lambda **k: lr_scheduler.StepLR(**{"lr": 0.1, "step_size": 3, **k}),
               {"lr": fc.hyper(fc.NONNEG), "step_size": fc.int_at_least(1, 10**500), "gamma": fc.POSITIVE,
                "steps_per_epoch": fc.int_at_least(1, 10**500)}, False),
    "ExponentialLR": (lambda **k: lr_scheduler.ExponentialLR(**{"lr": 0.1, "gamma": 0.9, **k}),
                      {"lr": fc.hyper(fc.NONNEG), "gamma": fc.POSITIVE}, False),
    "CosineAnnealingLR": (lambda **k: lr_scheduler.CosineAnnealingLR(**{"lr": 0.1, "T_max": 10, **k}),
                          {"T_max": fc.int_at_least(1, 10**500), "eta_min": fc.NONNEG}, False),
    "LinearLR": (lambda **k: lr_scheduler.LinearLR(**{"lr": 0.1, **k}),
                 {"start_factor": fc.Kind("(0, 1]", lambda v: fc._finite(v) and 0 < float(v) <= 1),
                  "end_factor": fc.UNIT, "total_iters": fc.int_at_least(1, 10**500)}, False),
    "OneCycleLR": (lambda **k: lr_scheduler.OneCycleLR(**{"max_lr": 0.1, "total_steps": 10, **k}),
                   {"max_lr": fc.hyper(fc.NONNEG), "total_steps": fc.int_at_least(1, 10**500),
                    "pct_start": fc.UNIT, "anneal_strategy": fc.choice("cos", "linear"),
                    "div_factor": fc.POSITIVE, "final_div_factor": fc.POSITIVE, "three_phase": fc.BOOL}, False),
    # ------------------------------------------------------------------ surfaces
    "surfaces.get": (lambda **k: surfaces.get(**k), {"name": fc.choice(*surfaces.names())}, False),
    "surfaces.rosenbrock": (lambda **k: surfaces.get("rosenbrock", **k),
                            {"a": fc.Kind("|a| <= 1e6", lambda v: fc._finite(v) and abs(float(v)) <= 1e6),
                             "b": fc.POSITIVE,
                             "dim": fc.int_at_least(2, int((LIMIT / 32) ** 0.5), cheap_up_to=500)}, False),
    "surfaces.quadratic": (lambda **k: surfaces.get("quadratic", **k),
                           {"dim": fc.or_none(fc.int_at_least(1, int((LIMIT / 32) ** 0.5), cheap_up_to=500)),
                            "condition_number": fc.or_none(fc.Kind(">= 1", lambda v: fc._finite(v) and float(v) >= 1)),
                            "lambda_max": fc.or_none(fc.POSITIVE)},
                           False),
    "Quadratic(eigenvalues)": (lambda **k: surfaces.Quadratic(**k), {
        "eigenvalues": fc.or_none(fc.real_array(lambda s: len(s) == 1 and s[0] <= 500, element=lambda a: bool(np.all(a > 0))))}, False),
    "Quadratic(angle, center)": (lambda **k: surfaces.Quadratic(**{"dim": 2, **k}), {
        "angle": fc.or_none(fc.FINITE), "seed": fc.or_none(fc.int_at_least(0, 10**500)),
        "center": fc.or_none(fc.real_array(lambda s: s == (2,)))}, False),
    "Rastrigin": (lambda **k: surfaces.Rastrigin(**k), {"dim": fc.int_at_least(1, LIMIT // 32, cheap_up_to=10**4),
                                                        "A": fc.POSITIVE}, False),
    "DoubleWell": (lambda **k: surfaces.DoubleWell(**k), {"tilt": fc.FINITE,
                                                          "dim": fc.int_at_least(1, LIMIT // 32, cheap_up_to=10**4),
                                                          "curvature_y": fc.POSITIVE}, False),
    "StyblinskiTang": (lambda **k: surfaces.StyblinskiTang(**k),
                       {"dim": fc.int_at_least(1, LIMIT // 32, cheap_up_to=10**4)}, False),
    "Surface.grad": (lambda **k: SEED_PROBLEM.grad(**k), {"x": POINT2}, False),
    "Surface.value": (lambda **k: surfaces.Himmelblau().value(**k), {"x": POINT2}, False),
    "Surface.hessian": (lambda **k: surfaces.Beale().hessian(**k), {"x": POINT2}, False),
    # ------------------------------------------------------------------ noise, problems, simulate
    "noise.Gaussian": (lambda **k: noise.Gaussian(**k), {"scale": fc.hyper(fc.NONNEG),
                                                         "covariance": fc.or_none(fc.NONE)}, False),
    "noise.Minibatch": (lambda **k: noise.Minibatch(**k), {"batch_size": fc.int_at_least(1, 10**500),
                                                           "shuffle": fc.BOOL, "replace": fc.BOOL}, False),
    "noise.get": (lambda **k: noise.get(**k), {"identifier": fc.Kind("None or 'exact'", lambda v: v is None or v == "exact")}, False),
    "LinearRegression": (lambda **k: problems.LinearRegression(**{"x": np.arange(1.0, 7.0), "y": np.arange(6.0), **k}),
                         {"x": fc.real_array(lambda s: s in ((6,),) or (len(s) == 2 and s[0] == 6 and s[1] > 0)),
                          "y": fc.real_array(lambda s: s == (6,))}, False),
    "LinearRegression.seed": (lambda **k: problems.LinearRegression.seed(**k), {"n": fc.int_at_least(1, 10**6)}, False),
    "simulate.run": (_sim, {"x0": POINT2, "steps": fc.int_at_least(0, 10**12, cheap_up_to=1000),
                            "seed": fc.or_none(fc.int_at_least(0, 10**500)),
                            "checkpoint": fc.or_none(NOT_A_PATH), "resume": fc.or_none(NOT_A_PATH),
                            "dtype": FLOAT_DTYPE,
                            "record": fc.either(fc.choice("all", "final"), fc.int_at_least(1, 10**500)),
                            "run_ids": fc.or_none(fc.Kind("one run's id: an integer in [0, 2**63)", lambda v: (
                                fc._integer(v) or (isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu"))
                                and 0 <= int(v) < 2**63)), "noise": fc.or_none(fc.NONE),
                            "optimizer": OPTIMIZER_NAME, "problem": fc.NONE}, False),
    # ------------------------------------------------------------------ analysis, spikes
    "hessian_eigenvalues": (lambda **k: analysis.hessian_eigenvalues(SEED_PROBLEM, **k), {"x": POINT2}, False),
    "critical_lr": (lambda **k: analysis.critical_lr(**k), {"lambda_max": POSITIVE_ARRAY}, False),
    "gd_growth_factors": (lambda **k: analysis.gd_growth_factors(**{"lr": 0.1, "eigenvalues": [1.0, 2.0], **k}),
                          {"lr": fc.real_array(lambda s: _broadcasts(s, (2,)), element=lambda a: bool(np.all(a > 0))),
                           "eigenvalues": REAL_ARRAY}, False),
    "gd_optimal": (lambda **k: analysis.gd_optimal(**{"mu": 1.0, "L": 10.0, **k}),
                   {"mu": MU, "L": BIG_L}, False),
    "polyak_optimal": (lambda **k: analysis.polyak_optimal(**{"mu": 1.0, "L": 10.0, **k}),
                       {"mu": MU, "L": BIG_L}, False),
    "heavy_ball_spectral_radius": (lambda **k: analysis.heavy_ball_spectral_radius(**{"lr": 0.1, "beta": 0.9, "lam": 1.0, **k}),
                                   {"lr": REAL_ARRAY, "beta": REAL_ARRAY, "lam": REAL_ARRAY}, False),
    "heavy_ball_iteration_matrix": (lambda **k: analysis.heavy_ball_iteration_matrix(**{"lr": 0.1, "beta": 0.9, "lam": 1.0, **k}),
                                    {"beta": REAL_ARRAY}, False),
    "convergence_rate": (lambda **k: analysis.convergence_rate(**{"values": np.geomspace(1, 1e-3, 10), "start": 1, "stop": 5, **k}),
                         {"values": fc.real_array(lambda s: len(s) >= 1 and s[0] >= 6, finite=False),
                          "start": fc.int_at_least(0, 4), "stop": fc.int_at_least(2, 9)}, False),
    "escape_fraction": (lambda **k: analysis.escape_fraction(**{"final_points": np.zeros((4, 2)),
                                                                "minima": np.array([[0.0, 0.0], [1.0, 1.0]]), **k}),
                        {"final_points": fc.real_array(lambda s: len(s) >= 1 and s[-1] == 2, finite=False),
                         "minima": fc.real_array(lambda s: len(s) == 2 and s[1] == 2 and s[0] >= 1),
                         "start_index": fc.int_at_least(0, 1),
                         "axis": fc.or_none(fc.Kind("a runs axis (-1 or 0) or a tuple of them", lambda v: (
                             fc._integer(v) and v in (-1, 0)) or (isinstance(v, tuple) and all(
                                 fc._integer(a) and a in (-1, 0) for a in v))))}, False),
    "spikes.baseline": (lambda **k: spikes.baseline(**{"values": np.ones(8), **k}),
                        {"values": fc.real_array(lambda s: len(s) == 1, finite=False, allow_empty=True),
                         "window": fc.or_none(fc.int_at_least(1, 10**500))}, False),
    "detect_spikes": (lambda **k: spikes.detect_spikes(**{"values": np.ones(8), **k}),
                      {"values": fc.real_array(lambda s: len(s) == 1, finite=False, allow_empty=True),
                       "threshold": fc.POSITIVE, "recovery": fc.int_at_least(1, 10**500),
                       "warmup": fc.int_at_least(0, 10**500), "window": fc.or_none(fc.int_at_least(1, 10**500))}, False),
    "spike_summary": (lambda **k: spikes.spike_summary(**{"values": np.ones(8), **k}),
                      {"values": fc.real_array(lambda s: len(s) == 1, finite=False, allow_empty=True),
                       "threshold": fc.POSITIVE}, False),
    "nonfinite_epochs": (lambda **k: spikes.nonfinite_epochs(**k),
                         {"values": fc.real_array(lambda s: len(s) == 1, finite=False, allow_empty=True)}, False),
    "datasets.train_validation_split": (lambda **k: datasets.train_validation_split(**{"x": X6, "y": Y6, **k}),
                                        {"x": fc.real_array(lambda s: len(s) >= 1 and s[0] == 6, finite=False),
                                         "y": fc.real_array(lambda s: len(s) >= 1 and s[0] == 6, finite=False),
                                         "validation_fraction": fc.Kind("[1/6, 5/6]", lambda v: fc._finite(v) and 1 / 6 <= float(v) < 5 / 6)}, False),
    # ------------------------------------------------------------------ curvature
    "problem_hvp": (lambda **k: curvature.problem_hvp(**{"problem": SEED_PROBLEM, "x": np.zeros(2), **k}),
                    {"x": fc.real_array(lambda s: s == (2,)), "step": fc.POSITIVE, "problem": fc.NONE}, False),
    "top_eigenvalues": (lambda **k: curvature.top_eigenvalues(**{"matvec": _matvec, "dim": 3, **k}),
                        {"dim": fc.int_at_least(1, 10**500, cheap_up_to=2000), "k": fc.int_at_least(1, 3),
                         "seed": fc.or_none(fc.int_at_least(0, 10**500)), "iterations": fc.or_none(fc.int_at_least(1, 10**500, cheap_up_to=100)),
                         "matvec": fc.CALLABLE}, False),
    "sharpness": (lambda **k: curvature.sharpness(**{"matvec": _matvec, "dim": 3, **k}),
                  {"dim": fc.int_at_least(1, 10**500, cheap_up_to=2000),
                   "iterations": fc.or_none(fc.int_at_least(1, 10**500, cheap_up_to=100)), "matvec": fc.NONE}, False),
    "bottom_eigenvalue": (lambda **k: curvature.bottom_eigenvalue(**{"matvec": _matvec, "dim": 3, **k}),
                          {"dim": fc.int_at_least(1, 10**500, cheap_up_to=2000)}, False),
    "preconditioned": (lambda **k: curvature.preconditioned(**{"matvec": _matvec, "diagonal": np.ones(3), **k}),
                       {"diagonal": fc.Kind("positive entries, flat or a list of arrays", _diagonal_ok),
                        "matvec": fc.NONE}, False),
    "preconditioner": (lambda **k: curvature.preconditioner(**{"optimizer": optim.Adam(0.01), "state": _adam_state(), **k}),
                       {"optimizer": fc.NONE, "state": fc.NONE}, False),
    "stability_threshold": (lambda **k: curvature.stability_threshold(**{"optimizer": optim.SGD(0.1), **k}),
                            {"optimizer": fc.NONE, "iterations": fc.int_at_least(0, 10**500)}, False),
    "model_sharpness": (lambda **k: curvature.model_sharpness(**{"model": _compiled(dtype="float64"), "x": X6, "y": Y6,
                                                                 "iterations": 3, **k}),
                        {"x": fc.real_array(lambda s: s == (6, 3)), "y": fc.real_array(lambda s: s in ((6,), (6, 1))),
                         "iterations": fc.or_none(fc.int_at_least(1, 10**500, cheap_up_to=50)),
                         "method": fc.choice("central", "complex"), "model": fc.NONE}, False),
    "SharpnessCallback": (lambda **k: curvature.SharpnessCallback(**{"x": X6, "y": Y6, **k}),
                          {"every": fc.int_at_least(1, 10**500), "preconditioned": fc.BOOL,
                           "batch_statistics": fc.BOOL, "method": fc.choice("central", "complex")}, False),
    "sharpness_observer": (lambda **k: curvature.sharpness_observer(**{"problem": SEED_PROBLEM, **k}),
                           {"problem": fc.NONE, "iterations": fc.or_none(fc.int_at_least(1, 10**500)),
                            "seed": fc.or_none(fc.int_at_least(0, 10**500))}, False),
    # ------------------------------------------------------------------ nn layers
    "Dense": (lambda **k: layers.Dense(**{"units": 2, **k}), {
        "units": fc.int_at_least(1, 10**500), "activation": fc.or_none(fc.choice(*ACTIVATION_NAMES)),
        "use_bias": fc.BOOL, "kernel_initializer": fc.choice(*INITIALIZER_NAMES),
        "input_shape": fc.or_none(SHAPE), "name": fc.or_none(fc.STRING), "trainable": fc.BOOL}, False),
    "Conv2D": (lambda **k: layers.Conv2D(**{"filters": 2, "kernel_size": 3, **k}), {
        "filters": fc.int_at_least(1, 10**500),
        "kernel_size": fc.Kind("int >= 1 or a pair", lambda v: (fc._integer(v) and v >= 1) or (
            isinstance(v, (list, tuple)) and len(v) == 2 and all(fc._integer(d) and d >= 1 for d in v))),
        "padding": fc.choice("valid", "same"), "data_format": fc.or_none(fc.choice("channels_last", "channels_first"))}, False),
    "MaxPooling2D": (lambda **k: layers.MaxPooling2D(**k), {
        "pool_size": fc.Kind("int >= 1 or a pair", lambda v: (fc._integer(v) and v >= 1) or (
            isinstance(v, (list, tuple)) and len(v) == 2 and all(fc._integer(d) and d >= 1 for d in v))),
        "padding": fc.choice("valid", "same")}, False),
    "BatchNormalization": (lambda **k: layers.BatchNormalization(**k), {
        "axis": fc.int_at_least(-10**500, 10**500), "momentum": fc.UNIT, "epsilon": fc.POSITIVE,
        "center": fc.BOOL, "scale": fc.BOOL}, False),
    "Dropout": (lambda **k: layers.Dropout(**{"rate": 0.5, **k}), {
        "rate": fc.UNIT, "seed": fc.or_none(fc.int_at_least(0, 10**500)), "noise_shape": fc.or_none(fc.Kind("a non-empty tuple of positive ints or None", lambda v: (
            isinstance(v, (list, tuple)) and len(v) > 0 and all(d is None or (fc._integer(d) and d >= 1) for d in v))))}, False),
    "Activation": (lambda **k: layers.Activation(**{"activation": "relu", **k}), {
        "activation": fc.or_none(fc.choice(*ACTIVATION_NAMES)), "input_shape": fc.or_none(SHAPE)}, False),
    "ReLU": (lambda **k: layers.ReLU(**k), {"input_shape": fc.or_none(SHAPE), "trainable": fc.BOOL,
                                             "name": fc.or_none(fc.STRING)}, False),
    "Flatten": (lambda **k: layers.Flatten(**k), {"data_format": fc.or_none(fc.choice("channels_last", "channels_first"))}, False),
    "activations.get": (lambda **k: activations.get(**k), {"identifier": fc.or_none(fc.choice(*ACTIVATION_NAMES))}, False),
    "initializers.get": (lambda **k: initializers.get(**k), {"identifier": fc.choice(*INITIALIZER_NAMES)}, False),
    # ------------------------------------------------------------------ Sequential
    "Sequential": (lambda **k: Sequential(**k), {"layers": fc.Kind(
        "list of layers", lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 0)),
        "seed": fc.int_at_least(0, 2**128 - 1), "dtype": FLOAT_DTYPE, "background": fc.BOOL}, False),
    "Sequential.add": (lambda **k: Sequential().add(**k), {"layer": fc.NONE}, False),
    "Sequential.build": (lambda **k: Sequential([layers.Dense(1)]).build(**k),
                         {"input_shape": fc.where(SHAPE, lambda v: np.prod(v if isinstance(v, (list, tuple)) else [v], dtype=float) <= 10**6)}, False),
    "Sequential.set_weights": (lambda **k: _compiled().set_weights(**k), {"weights": fc.NONE}, False),
    "Sequential.compile": (lambda **k: _compiled().compile(**{"optimizer": "sgd", "loss": "mse", **k}),
                           {"metrics": fc.Kind("list of metric names", lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 0)),
                            "optimizer": OPTIMIZER_NAME, "loss": fc.choice(*LOSS_NAMES)}, False),
    "Sequential.fit": (_fit, {"x": ROWS_X, "y": ROWS_Y, "batch_size": fc.or_none(fc.int_at_least(1, 10**500)),
                              "epochs": SOME_EPOCHS,
                              "validation_split": fc.Kind("[0, 1)", lambda v: fc._finite(v) and (
                                  float(v) == 0 or 1 / 6 <= float(v) < 5 / 6)),
                              "stream": fc.or_none(fc.NONE), "checkpoint": WRITABLE, "seed": fc.or_none(fc.int_at_least(0, 2**128 - 1)),
                              "shuffle": fc.Kind("bool/batch/keras", lambda v: isinstance(v, (bool, np.bool_)) or (isinstance(v, str) and v in ("batch", "keras"))),
                              "verbose": fc.Kind("'auto' or an integer >= 0", lambda v: (isinstance(v, str) and v == "auto") or (fc._integer(v) and v >= 0)),
                              "initial_epoch": fc.int_at_least(0, 10**500), "resume": fc.BOOL,
                              "callbacks": fc.Kind("a list of callbacks", lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 0)),
                              "validation_data": fc.or_none(fc.NONE), "engine": fc.choice("fast", "reference")},
                       False),
    "Sequential.predict": (lambda **k: _compiled().predict(**{"x": X6, **k}),
                           {"x": fc.real_array(lambda s: len(s) == 2 and s[1] == 3 and s[0] > 0, np.float32),
                            "batch_size": fc.or_none(fc.int_at_least(1, 10**500)), "batch_statistics": fc.BOOL,
                            "engine": fc.choice("fast", "reference")}, False),
    "Sequential.evaluate": (lambda **k: _compiled().evaluate(**{"x": X6, "y": Y6, **k}),
                            {"x": ROWS_X, "y": ROWS_Y, "batch_size": fc.or_none(fc.int_at_least(1, 10**500)),
                             "batch_statistics": fc.BOOL, "return_dict": fc.Kind("anything truthy or falsy", lambda v: isinstance(v, (bool, np.bool_)))}, False),
    "Sequential.gradient": (lambda **k: _compiled().gradient(**{"x": X6, "y": Y6, **k}),
                            {"x": ROWS_X, "y": ROWS_Y, "training": fc.BOOL, "batch_statistics": fc.BOOL}, False),
    "Sequential.__call__": (lambda **k: _compiled()(**{"x": X6, **k}),
                            {"x": fc.real_array(lambda s: len(s) == 2 and s[1] == 3 and s[0] > 0, np.float32),
                             "training": fc.BOOL}, False),
    # ------------------------------------------------------------------ callbacks, losses, metrics
    "EarlyStopping": (lambda **k: callbacks.EarlyStopping(**k),
                      {"monitor": fc.STRING, "patience": fc.int_at_least(0, 10**500), "min_delta": fc.FINITE,
                       "mode": fc.choice("auto", "min", "max"), "restore_best_weights": fc.BOOL}, False),
    "TerminateOnNaN": (lambda **k: callbacks.TerminateOnNaN(**k), {"raise_error": fc.BOOL}, False),
    "losses.get": (lambda **k: losses.get(**k), {"identifier": fc.choice(*LOSS_NAMES)}, False),
    "CategoricalCrossentropy": (lambda **k: losses.CategoricalCrossentropy(**k), {
        "from_logits": fc.BOOL, "label_smoothing": fc.UNIT, "clip": fc.BOOL}, False),
    "BinaryCrossentropy": (lambda **k: losses.BinaryCrossentropy(**k), {
        "from_logits": fc.BOOL, "label_smoothing": fc.UNIT, "clip": fc.BOOL}, False),
    "SparseCategoricalCrossentropy": (lambda **k: losses.SparseCategoricalCrossentropy(**k), {
        "from_logits": fc.BOOL, "clip": fc.BOOL}, False),
    "Loss.value_and_grad": (lambda **k: losses.MeanSquaredError().value_and_grad(**{"y_true": Y6[:, None], "y_pred": Y6[:, None], **k}),
                            {"y_true": fc.real_array(lambda s: _mse_shapes_fit(s, (6, 1)), finite=False),
                             "y_pred": fc.real_array(lambda s: _mse_shapes_fit((6, 1), s), finite=False)}, False),
    "metrics.get": (lambda **k: metrics.get(**k), {"identifier": fc.choice(*METRIC_NAMES)}, False),
    # ------------------------------------------------------------------ case studies
    "regression.run": (lambda **k: regression.run(**{"n": 5, "epochs": 1, "predict_at": None, **k}),
                       {"n": fc.int_at_least(1, LIMIT // 64, cheap_up_to=10**4), "kernel": fc.FINITE32, "bias": fc.FINITE32,
                        "epochs": SOME_EPOCHS, "batch_size": fc.or_none(fc.int_at_least(1, 10**500)),
                        "optimizer": OPTIMIZER_NAME, "shuffle": fc.BOOL, "seed": fc.or_none(fc.int_at_least(0, 2**128 - 1)),
                        "dtype": FLOAT_DTYPE_NOT_NONE, "predict_at": fc.or_none(fc.FINITE32)}, False),
    "regression.build_model": (lambda **k: regression.build_model(**{"kernel": 0.1, **k}),
                               {"kernel": fc.FINITE32, "bias": fc.FINITE32, "optimizer": OPTIMIZER_NAME,
                                "dtype": FLOAT_DTYPE_NOT_NONE}, False),
    "regression.predicted_first_inf_epoch": (
        lambda **k: regression.predicted_first_inf_epoch(**{"first_loss": 1.0, "loss_ratio": 3.5,
                                                             "batch_size": 32, **k}),
        {"first_loss": fc.POSITIVE, "loss_ratio": fc.POSITIVE, "batch_size": fc.int_at_least(1, 10**500),
         "dtype": FLOAT_DTYPE_NOT_NONE}, False),
    "regression.final_quantity": (lambda **k: regression.final_quantity(**{
        "n": 5, "optimizer_name": "sgd", "which": "loss", **k}),
        {"epochs": fc.int_at_least(1, 10**500), "n": fc.int_at_least(1, LIMIT // 64), "which": fc.choice("loss", "predict"),
         "optimizer_name": OPTIMIZER_NAME}, False),
    "regression.kernels_from_first_loss": (lambda **k: regression.kernels_from_first_loss(**{"first_loss": 1.0, **k}),
                                           {"first_loss": fc.NONNEG, "n": fc.int_at_least(1, 10**6)}, False),
    "seed_regression": (lambda **k: xs_ys_data.seed_regression(**k), {"n": fc.int_at_least(1, LIMIT // 32, cheap_up_to=10**6),
                                                                      "dtype": FLOAT_DTYPE_NOT_NONE}, False),
    "regression_hessian": (lambda **k: stability.regression_hessian(**k), {"xs": fc.real_array(lambda s: len(s) == 1)}, False),
    "regression_stability": (lambda **k: stability.regression_stability(**{"xs": np.arange(1.0, 5.0), "lr": 0.01, **k}),
                             {"lr": fc.hyper(fc.POSITIVE), "xs": fc.real_array(lambda s: len(s) == 1)}, False),
    "max_converging_n": (lambda **k: stability.max_converging_n(**{"lr": 0.01, **k}),
                         {"lr": fc.POSITIVE, "n_max": fc.int_at_least(1, LIMIT // 96, cheap_up_to=10**6)}, False),
    "real_fake_images": (lambda **k: real_fake_images(**{"n": 4, "size": 8, **k}),
                         {"n": fc.Kind("n >= 2 within the memory limit", lambda v: fc._integer(v) and v >= 2 and 36 * v * 192 <= LIMIT),
                          "size": fc.Kind("even >= 8", lambda v: fc._integer(v) and v >= 8 and v % 2 == 0 and 36 * 4 * v * v * 3 <= LIMIT),
                          "channels": fc.where(fc.int_at_least(1, 10**500), lambda v: 36 * 4 * 64 * v <= LIMIT),
                          "seed": fc.or_none(fc.int_at_least(0, 10**500)),
                          "difficulty": fc.UNIT, "data_format": fc.choice("channels_last", "channels_first"),
                          "dtype": FLOAT_DTYPE_NOT_NONE}, True),
    "make_data": (lambda **k: make_data(**{"n": 8, "size": 8, **k}),
                  {"validation_fraction": fc.Kind("(0, 1)", lambda v: fc._finite(v) and 0 < float(v) < 1),
                   "difficulty": fc.UNIT}, True),
    "seed_cnn": (lambda **k: cnn_model.seed_cnn(**k), {"dropout": fc.BOOL, "classes": fc.int_at_least(2),
                                                        "height": fc.where(fc.int_at_least(4, 10**500), lambda v: _cnn_fits(height=v)),
                                                        "width": fc.where(fc.int_at_least(4, 10**500), lambda v: _cnn_fits(width=v)),
                                                        "depth": fc.where(fc.int_at_least(1, 10**500), lambda v: _cnn_fits(depth=v)),
                                                        "seed": fc.int_at_least(0, 2**128 - 1),
                                                        "data_format": fc.choice("channels_last", "channels_first"),
                                                        "dtype": FLOAT_DTYPE}, True),  # None: Sequential's float32
    "train_seed_run": (lambda **k: train_seed_run(**{"n": 16, "epochs": 1, "size": 8, "verbose": 0, **k}),
                       {"n": fc.where(fc.int_at_least(8, 10**500), lambda v: 36 * v * 192 <= LIMIT),
                        "epochs": fc.int_at_least(1, 10**500), "batch_size": fc.int_at_least(1, 10**500),
                        "lr": fc.POSITIVE, "decay": fc.BOOL,
                        "size": fc.where(fc.int_at_least(8, 10**500), lambda v: v % 2 == 0 and 36 * 16 * v * v * 3 <= LIMIT),
                        "difficulty": fc.UNIT, "dropout": fc.BOOL, "bn_momentum": fc.UNIT,
                        "validation_fraction": fc.Kind("(0, 1)", lambda v: fc._finite(v) and 0 < float(v) < 1),
                        "history_path": fc.or_none(WRITABLE)}, True),
    "chebyshev_data": (lambda **k: edge_of_stability.chebyshev_data(**k),
                       {"points": fc.int_at_least(2, 10**6), "degree": fc.int_at_least(0, 10**3)}, False),
    # ------------------------------------------------------------------ explorer, plots, figures
    "explorer.select_presets": (lambda **k: explorer_page.select_presets(**k),
                                {"names": fc.Kind("None or preset names", lambda v: v is None or (
                                    isinstance(v, (list, tuple)) and all(isinstance(n, str) and n in PRESET_NAMES for n in v)))}, False),
    "explorer.write": (lambda **k: explorer_page.write(**{"out": os.path.join(SWEEP_TMP, "x.html"), "quick": True, **k}),
                       {"out": WRITABLE, "quick": fc.BOOL,
                        "surfaces": fc.or_none(fc.Kind("preset names", lambda v: isinstance(v, (list, tuple)) and all(
                            isinstance(n, str) and n in PRESET_NAMES for n in v)))}, True),
    "plots.save": (lambda **k: _plots_save(**k),
                   {"stem": fc.STRING, "out_dir": fc.Kind("a folder", lambda v: isinstance(v, str) and v.strip() != ""
                                                          and not os.path.isfile(v), paths=True),
                    "formats": fc.Kind("format names", lambda v: isinstance(v, (list, tuple)) and all(
                        f in ("png", "svg", "pdf") for f in v))}, True),
    "figures.describe": (lambda **k: figures.describe(**k), {"name": fc.choice(*figures.names())}, False),
    "figures.make": (lambda **k: figures.make(**{"name": "divergence", "out_dir": SWEEP_TMP, "quick": True, **k}),
                     {"name": fc.choice(*figures.names()), "quick": fc.BOOL,
                      "out_dir": fc.Kind("a folder", lambda v: isinstance(v, str) and v.strip() != "" and not os.path.isfile(v),
                                         paths=True)}, True),
}

#: words an error message may use for an argument instead of its exact name
SWEEP_ALIASES = {"x0": ["x"], "kernel": ["init_kernel"], "bias": ["init_bias"],
                 "layers": ["layer"], "weights": ["weight"], "metrics": ["metric"],
                 "identifier": ["optimizer", "noise", "loss", "metric", "activation", "initializer"],
                 "name": ["surface", "figure"], "names": ["--surface"], "surfaces": ["--surface"],
                 "predict_at": ["predict"], "optimizer_name": ["optimizer"], "fn": ["fn"],
                 "stem": ["stem"], "path": ["path"], "formats": ["format"], "out": ["out"]}
