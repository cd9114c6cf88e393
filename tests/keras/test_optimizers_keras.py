"""gdsim.optim against Keras 3: the same 20 gradients fed to ``keras_opt.apply`` on
``keras.Variable``s and to ``gdsim`` ``step``, float32, several parameter shapes."""

import numpy as np
import pytest

from gdsim import optim

SHAPES = [(3,), (2, 4), (1,), (3, 2, 2)]
STEPS = 20

CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "epsilon": 0.1}),
    ("Adam", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.5, "clipnorm": 0.3}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.2}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("SGD", {"learning_rate": 0.05, "weight_decay": 0.3}),
]

MAX_REL = {}


def _gradients(seed):
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal(s) * rng.choice([0.01, 1.0, 30.0])).astype(np.float32)
             for s in SHAPES] for _ in range(STEPS)]


def _run_both(keras, name, kwargs, seed=0, lr_override=None):
    rng = np.random.default_rng(1000 + seed)
    w0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = _gradients(seed)
    kw = dict(kwargs)
    if lr_override is not None:
        kw["learning_rate"] = lr_override[0]
    kopt = getattr(keras.optimizers, name)(**kw)
    kvars = [keras.Variable(w.copy(), dtype="float32") for w in w0]
    gkw = dict(kwargs)
    if lr_override is not None:
        gkw["learning_rate"] = lr_override[1]
    gopt = getattr(optim, name)(**gkw)
    params = [w.copy() for w in w0]
    state = gopt.init(params)
    k_hist, g_hist = [], []
    for g in grads:
        kopt.apply([keras.ops.convert_to_tensor(x) for x in g], kvars)
        params, state = gopt.step(params, g, state)
        k_hist.append([np.asarray(keras.ops.convert_to_numpy(v.value)) for v in kvars])
        g_hist.append([p.copy() for p in params])
    assert int(np.asarray(kopt.iterations)) == int(state.iterations) == STEPS
    return w0, k_hist, g_hist


def _rel(w0, k_hist, g_hist):
    worst = 0.0
    for ks, gs in zip(k_hist, g_hist):
        for k, g, w in zip(ks, gs, w0):
            assert g.dtype == np.float32
            scale = max(np.max(np.abs(k)), np.max(np.abs(w)))
            worst = max(worst, float(np.max(np.abs(k - g)) / scale))
    return worst


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_keras_float32(keras, name, kwargs):
    w0, k_hist, g_hist = _run_both(keras, name, kwargs)
    rel = _rel(w0, k_hist, g_hist)
    MAX_REL[f"{name}{kwargs}"] = rel
    moved = max(float(np.max(np.abs(g - w))) for g, w in zip(g_hist[-1], w0))
    assert moved > 1e-4, "the parameters must actually move for the comparison to mean something"
    assert rel <= 2e-6, f"max |keras - gdsim| / max|w| = {rel:.3g}"


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_schedule_matches_keras(keras, name):
    from gdsim import schedules
    kwargs = {"momentum": 0.9} if name == "SGD" else {}
    ksched = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    gsched = schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    w0, k_hist, g_hist = _run_both(keras, name, kwargs, seed=3, lr_override=(ksched, gsched))
    rel = _rel(w0, k_hist, g_hist)
    MAX_REL[f"{name}+ExponentialDecay"] = rel
    assert rel <= 2e-6


def test_report_max_relative_differences():
    """Prints the measured differences (run with -s); asserts they were measured."""
    if MAX_REL:
        for key, value in sorted(MAX_REL.items(), key=lambda kv: -kv[1]):
            print(f"{value:.3e}  {key}")
        assert max(MAX_REL.values()) <= 2e-6
