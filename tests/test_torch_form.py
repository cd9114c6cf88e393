"""gdsim.optim.torch_form against an independent NumPy transcription of PyTorch's documented
algorithms (the pseudocode in the torch.optim docs, version 2.13), float64 to 1e-12.

The reference functions below are written from the documentation, one line per line of its
pseudocode (t counts from 1), not from gdsim's implementation. Where the docs are silent
(``maximize`` for RMSprop and Adagrad) they follow the SGD and Adam pseudocode: the gradient
is negated first. tests/torch/ checks the same forms against torch.optim itself.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import schedules
from gdsim.nn.fast.flat_update import flattenable
from gdsim.optim import OptState, torch_form
from gdsim.optim.torch_form import lr_scheduler

STEPS = 30


# ----------------------------------------------------------- the documented algorithms

def doc_sgd(theta, grad_fn, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
            nesterov=False, maximize=False):
    b = None
    out = []
    for t in range(1, steps + 1):
        g = -grad_fn(theta) if maximize else grad_fn(theta)
        if weight_decay != 0:
            g = g + weight_decay * theta
        if momentum != 0:
            b = momentum * b + (1 - dampening) * g if t > 1 else g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
        out.append(theta)
    return out


def doc_adam(theta, grad_fn, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False, maximize=False, decoupled=False):
    beta1, beta2 = betas
    m = v = v_max = np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = -grad_fn(theta) if maximize else grad_fn(theta)
        if decoupled:                                   # AdamW
            theta = theta - lr * weight_decay * theta
        elif weight_decay != 0:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2 ** t)
        else:
            v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def doc_rmsprop(theta, grad_fn, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                momentum=0.0, centered=False, maximize=False):
    v = b = g_ave = np.zeros_like(theta)
    out = []
    for _ in range(steps):
        g = -grad_fn(theta) if maximize else grad_fn(theta)
        if weight_decay != 0:
            g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g ** 2
        v_tilde = v
        if centered:
            g_ave = g_ave * alpha + (1 - alpha) * g
            v_tilde = v_tilde - g_ave ** 2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
        out.append(theta)
    return out


def doc_adagrad(theta, grad_fn, steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    state_sum = np.full_like(theta, initial_accumulator_value)
    out = []
    for t in range(1, steps + 1):
        g = -grad_fn(theta) if maximize else grad_fn(theta)
        gamma = lr / (1 + (t - 1) * lr_decay)
        if weight_decay != 0:
            g = g + weight_decay * theta
        state_sum = state_sum + g ** 2
        theta = theta - gamma * g / (np.sqrt(state_sum) + eps)
        out.append(theta)
    return out


DOCUMENTED = {"SGD": doc_sgd, "Adam": doc_adam, "RMSprop": doc_rmsprop, "Adagrad": doc_adagrad,
              "AdamW": lambda *a, weight_decay=1e-2, **k: doc_adam(*a, weight_decay=weight_decay,
                                                                     decoupled=True, **k)}


# ------------------------------------------------------------------------- helpers

def quadratic(curvature, target, noise):
    """g(theta) = curvature*(theta - target) + noise(theta): a gradient that depends on the
    iterate, so a wrong update changes every later gradient."""
    return lambda theta: curvature * (theta - target) + noise * np.sin(3 * theta)


def ours(opt, theta0, grad_fn, steps):
    theta, state = theta0.copy(), opt.init(theta0)
    out = []
    for _ in range(steps):
        theta, state = opt.step(theta, grad_fn(theta), state)
        out.append(theta)
    return out


def assert_trajectories_equal(a, b, rtol=1e-12):
    for k, (x, y) in enumerate(zip(a, b)):
        scale = np.maximum(np.abs(y), 1.0)
        assert np.all(np.abs(x - y) <= rtol * scale), (k, np.max(np.abs(x - y) / scale))


problems = st.tuples(st.floats(0.2, 2.0), st.floats(-2, 2), st.floats(0, 0.5), st.integers(0, 2**31))


def _theta0(seed):
    return np.random.default_rng(seed).standard_normal(6)


unit = st.floats(0.0, 0.99)
SETTINGS = {
    "SGD": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.4), "momentum": st.sampled_from([0.0, 0.5, 0.9]),
                                  "dampening": st.sampled_from([0.0, 0.3]),
                                  "weight_decay": st.sampled_from([0.0, 0.05]), "maximize": st.booleans()}),
    "Adam": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.2), "betas": st.tuples(unit, st.floats(0.5, 0.999)),
                                   "eps": st.sampled_from([1e-8, 1e-3, 0.5]), "weight_decay": st.sampled_from([0.0, 0.1]),
                                   "amsgrad": st.booleans(), "maximize": st.booleans()}),
    "AdamW": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.2), "weight_decay": st.sampled_from([0.0, 0.01, 0.3]),
                                    "amsgrad": st.booleans(), "eps": st.sampled_from([1e-8, 0.1])}),
    "RMSprop": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.05), "alpha": st.floats(0.5, 0.99),
                                      "eps": st.sampled_from([1e-8, 0.1]), "weight_decay": st.sampled_from([0.0, 0.1]),
                                      "momentum": st.sampled_from([0.0, 0.5]), "centered": st.booleans(),
                                      "maximize": st.booleans()}),
    "Adagrad": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.5), "lr_decay": st.sampled_from([0.0, 0.1]),
                                      "weight_decay": st.sampled_from([0.0, 0.1]),
                                      "initial_accumulator_value": st.sampled_from([0.0, 0.1]),
                                      "eps": st.sampled_from([1e-10, 1e-3]), "maximize": st.booleans()}),
}


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("name", sorted(SETTINGS))
@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_each_form_follows_the_documented_algorithm(name, data):
    kwargs = data.draw(SETTINGS[name])
    if name == "SGD" and kwargs["momentum"] == 0:
        kwargs["dampening"] = 0.0
    curvature, target, noise, seed = data.draw(problems)
    theta0, grad_fn = _theta0(seed), quadratic(curvature, target, noise)
    expected = DOCUMENTED[name](theta0, grad_fn, STEPS, **kwargs)
    assert_trajectories_equal(ours(getattr(torch_form, name)(**kwargs), theta0, grad_fn, STEPS), expected)


def test_nesterov_follows_the_documented_algorithm():
    grad_fn = quadratic(1.3, 0.5, 0.2)
    expected = doc_sgd(_theta0(1), grad_fn, STEPS, 0.1, momentum=0.9, nesterov=True)
    assert_trajectories_equal(ours(torch_form.SGD(0.1, momentum=0.9, nesterov=True), _theta0(1), grad_fn, STEPS),
                              expected)


def test_pytorch_defaults_and_names():
    assert torch_form.SGD().get_config() == {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
                                             "weight_decay": 0.0, "maximize": False}
    adam = torch_form.Adam().get_config()
    assert adam["betas"] == (0.9, 0.999) and adam["eps"] == 1e-8 and adam["weight_decay"] == 0.0
    assert torch_form.AdamW().get_config()["weight_decay"] == 1e-2
    rms = torch_form.RMSprop().get_config()
    assert (rms["lr"], rms["alpha"], rms["eps"]) == (1e-2, 0.99, 1e-8)
    ada = torch_form.Adagrad().get_config()
    assert (ada["lr"], ada["eps"], ada["initial_accumulator_value"], ada["lr_decay"]) == (1e-2, 1e-10, 0.0, 0.0)
    for cls in (torch_form.SGD, torch_form.Adam, torch_form.AdamW, torch_form.RMSprop, torch_form.Adagrad):
        opt = cls(lr=0.05)
        assert type(opt).from_config(opt.get_config()).get_config() == opt.get_config()
        assert repr(opt).startswith(cls.__name__ + "(lr=0.05")
    assert set(torch_form.Adam(amsgrad=True).init(np.zeros(2)).slots) == {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert set(torch_form.RMSprop(momentum=0.1, centered=True).init(np.zeros(2)).slots) == {
        "square_avg", "momentum_buffer", "grad_avg"}


def test_bad_arguments_name_pytorchs_argument():
    with pytest.raises(ValueError, match="lr"):
        torch_form.SGD(lr=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        torch_form.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="dampening"):
        torch_form.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="dampening"):
        torch_form.SGD(0.1, momentum=np.array([0.0, 0.9]), dampening=0.5)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        torch_form.Adam(betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas"):
        torch_form.Adam(betas=0.9)
    with pytest.raises(ValueError, match="eps"):
        torch_form.RMSprop(eps=-1.0)
    with pytest.raises(ValueError, match="lr_decay"):
        torch_form.Adagrad(lr_decay=-0.1)
    with pytest.raises(TypeError, match="maximize"):
        torch_form.Adam(maximize="yes")


@pytest.mark.parametrize("opt", [torch_form.SGD(np.array([0.01, 0.1, 0.3]), momentum=np.array([0.0, 0.5, 0.9])),
                                 torch_form.Adam(np.array([1e-3, 1e-2, 0.1]), betas=(np.array([0.5, 0.9, 0.99]), 0.999)),
                                 torch_form.AdamW(0.01, weight_decay=np.array([0.0, 0.1, 1.0])),
                                 torch_form.RMSprop(0.01, alpha=np.array([0.5, 0.9, 0.99]), momentum=0.5, centered=True),
                                 torch_form.Adagrad(0.1, lr_decay=np.array([0.0, 0.1, 1.0]),
                                                    initial_accumulator_value=np.array([0.0, 0.1, 1.0]))])
def test_a_sweep_equals_its_runs_alone(opt):
    """The runs axis: an array hyper-parameter advances every run as if it ran alone (bits)."""
    rng = np.random.default_rng(3)
    params = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    swept, state = params, opt.init(params)
    for g in grads:
        swept, state = opt.step(swept, g, state)
    config = opt.get_config()
    for run in range(3):
        def pick(v):
            if isinstance(v, tuple):
                return tuple(pick(x) for x in v)
            return float(v[run]) if isinstance(v, np.ndarray) else v
        alone_opt = type(opt)(**{k: pick(v) for k, v in config.items()})
        alone, s = params[run], alone_opt.init(params[run])
        for g in grads:
            alone, s = alone_opt.step(alone, g[run], s)
        assert np.array_equal(alone, swept[run])


def test_state_saves_and_a_resumed_run_is_bit_identical(tmp_path):
    opt = torch_form.Adam(0.05, amsgrad=True, weight_decay=0.1)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5).astype(np.float32) for _ in range(6)]
    w, s = np.ones(5, np.float32), opt.init(np.ones(5, np.float32))
    for g in grads[:3]:
        w, s = opt.step(w, g, s)
    s.save(tmp_path / "state.npz")
    resumed = OptState.load(tmp_path / "state.npz")
    straight, s2 = w, s
    for g in grads[3:]:
        w, resumed = opt.step(w, g, resumed)
        straight, s2 = opt.step(straight, g, s2)
    assert w.dtype == np.float32 and np.array_equal(w, straight) and resumed == s2


def test_pytorch_forms_are_element_wise_and_flatten():
    params = [np.ones((2, 3)), np.ones(4)]
    for opt in (torch_form.SGD(0.1, momentum=0.9, weight_decay=0.1, maximize=True), torch_form.AdamW(),
                torch_form.RMSprop(centered=True), torch_form.Adagrad(lr_decay=0.1),
                torch_form.Adam(lr=lr_scheduler.OneCycleLR(0.1, total_steps=10))):
        assert opt.is_elementwise() and flattenable(opt, params)
    assert not torch_form.Adam(betas=(np.array([0.5, 0.9]), 0.99)).is_elementwise()


def test_first_momentum_step_copies_the_gradient_and_leaves_inputs_alone():
    opt = torch_form.SGD(0.1, momentum=0.9)
    g = np.array([1.0, -2.0])
    w, state = opt.step(np.zeros(2), g, opt.init(np.zeros(2)))
    g[0] = 100.0  # the caller reuses its gradient buffer
    assert state.slots["momentum_buffer"][0].tolist() == [1.0, -2.0]
    assert w.tolist() == [-0.1, 0.2]


# -------------------------------------------------------------------- the schedulers

def doc_step_lr(lr, step_size, gamma, epochs):
    """Docs: "Decays the learning rate of each parameter group by gamma every step_size epochs"."""
    out, current = [], lr
    for epoch in range(epochs):
        if epoch > 0 and epoch % step_size == 0:
            current *= gamma
        out.append(current)
    return out


def doc_cosine(lr, t_max, eta_min, epochs):
    """Docs: eta_t = eta_min + (eta_max - eta_min)/2 * (1 + cos(T_cur/T_max * pi))."""
    return [eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(e / t_max * math.pi)) for e in range(epochs)]


def doc_linear(lr, start, end, total, epochs):
    """Docs: the factor changes linearly from start_factor to end_factor over total_iters."""
    return [lr * (start + (end - start) * min(e, total) / total) for e in range(epochs)]


def doc_one_cycle(max_lr, total, pct, div, final_div):
    """The 1cycle policy (docs: cos annealing from max_lr/div_factor to max_lr over
    pct_start of the cycle, then down to initial_lr/final_div_factor)."""
    initial, low = max_lr / div, max_lr / div / final_div
    up_end = pct * total - 1
    out = []
    for s in range(total):
        if s <= up_end:
            frac, a, b = s / up_end, initial, max_lr
        else:
            frac, a, b = (s - up_end) / (total - 1 - up_end), max_lr, low
        out.append(b + (a - b) / 2 * (1 + math.cos(math.pi * frac)))
    return out


@settings(deadline=None, max_examples=30)
@given(st.floats(1e-3, 1.0), st.integers(1, 10), st.floats(0.1, 0.99), st.integers(1, 4))
def test_step_and_exponential_lr_count_epochs(lr, step_size, gamma, steps_per_epoch):
    t = np.arange(60)
    epochs = doc_step_lr(lr, step_size, gamma, 60)
    ours_step = lr_scheduler.StepLR(lr, step_size, gamma, steps_per_epoch=steps_per_epoch)(t)
    np.testing.assert_allclose(ours_step, [epochs[k // steps_per_epoch] for k in t], rtol=1e-12)
    np.testing.assert_allclose(lr_scheduler.ExponentialLR(lr, gamma)(t), lr * gamma ** t, rtol=1e-12)


@settings(deadline=None, max_examples=30)
@given(st.floats(1e-3, 1.0), st.integers(1, 30), st.floats(0, 1e-3), st.floats(0.05, 1.0), st.integers(1, 12))
def test_cosine_and_linear_follow_the_docs(lr, t_max, eta_min, start, total):
    t = np.arange(70)
    np.testing.assert_allclose(lr_scheduler.CosineAnnealingLR(lr, t_max, eta_min)(t),
                               doc_cosine(lr, t_max, eta_min, 70), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lr_scheduler.LinearLR(lr, start, 1.0, total)(t), doc_linear(lr, start, 1.0, total, 70),
                               rtol=1e-12)


def test_one_cycle_follows_the_policy_and_refuses_steps_past_the_end():
    schedule = lr_scheduler.OneCycleLR(0.4, total_steps=100)
    np.testing.assert_allclose(schedule(np.arange(100)), doc_one_cycle(0.4, 100, 0.3, 25.0, 1e4), rtol=1e-12)
    assert schedule(29) == pytest.approx(0.4) and schedule(99) == pytest.approx(0.4 / 25 / 1e4)
    assert lr_scheduler.OneCycleLR(0.4, epochs=10, steps_per_epoch=10).total_steps == 100
    with pytest.raises(ValueError, match="total_steps"):
        schedule(101)
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(0.4)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(0.4, total_steps=10, anneal_strategy="cosine")


def test_torch_schedules_are_gdsim_schedules():
    s = lr_scheduler.StepLR(np.array([0.1, 0.2]), 2, 0.5)
    assert isinstance(s, schedules.Schedule) and s(4).tolist() == [0.025, 0.05]
    assert torch_form.lr_scheduler is lr_scheduler  # loaded on first use, not by import gdsim.optim
    assert s.evaluate(1, dtype=np.float32).dtype == np.float32
    scalar = lr_scheduler.LinearLR(0.1, 0.5, 1.0, 3, steps_per_epoch=2)
    assert type(scalar).from_config(scalar.get_config()).get_config() == scalar.get_config()
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(0.1, 0)
