"""gdsim.optim.equivalent: where a Keras form and a PyTorch form are the same algorithm under
a reparametrisation, their iterates agree to 1e-12 in float64 (hypothesis picks the settings);
where none exists, the helpers refuse with the reason."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import optim, schedules
from gdsim.optim import OptState, equivalent, torch_form
from gdsim.optim.torch_form import lr_scheduler

STEPS = 40


def trajectory(opt, theta0, grad_fn, steps=STEPS):
    theta, state, out = theta0.copy(), opt.init(theta0), []
    for _ in range(steps):
        theta, state = opt.step(theta, grad_fn(theta), state)
        out.append(theta)
    return np.array(out)


def close(a, b, rtol=1e-12):
    return np.all(np.abs(a - b) <= rtol * np.maximum(np.abs(b), 1.0))


problems = st.tuples(st.floats(0.1, 2.0), st.floats(0.0, 0.5), st.integers(0, 2**31))


def grad_fn_of(curvature, noise, seed):
    rng = np.random.default_rng(seed)
    theta0, target = rng.standard_normal(5), rng.standard_normal(5)
    return theta0, lambda th: curvature * (th - target) + noise * np.cos(2 * th)


@settings(deadline=None, max_examples=60)
@given(st.floats(1e-3, 0.45), st.floats(0.0, 0.95), st.booleans(), problems)
def test_keras_momentum_with_constant_lr_is_torch_momentum_with_dampening_0(lr, momentum, nesterov, problem):
    theta0, grad_fn = grad_fn_of(*problem)
    keras = optim.SGD(lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    torch = equivalent.to_torch(keras)
    assert isinstance(torch, torch_form.SGD) and torch.dampening == 0
    assert close(trajectory(keras, theta0, grad_fn), trajectory(torch, theta0, grad_fn))
    assert close(trajectory(equivalent.to_keras(torch), theta0, grad_fn), trajectory(torch, theta0, grad_fn))


@settings(deadline=None, max_examples=40)
@given(st.floats(1e-3, 0.4), st.floats(0.0, 0.5), st.sampled_from(["constant", "step", "cosine"]), problems)
def test_plain_sgd_is_the_same_with_any_schedule_and_weight_decay(lr, weight_decay, kind, problem):
    rate = {"constant": lr, "step": lr_scheduler.StepLR(lr, 5, 0.5),
            "cosine": schedules.CosineDecay(lr, 30)}[kind]
    theta0, grad_fn = grad_fn_of(*problem)
    keras = optim.SGD(rate, weight_decay=weight_decay)
    torch = equivalent.to_torch(keras)
    assert close(trajectory(keras, theta0, grad_fn), trajectory(torch, theta0, grad_fn))


@settings(deadline=None, max_examples=80)
@given(st.integers(0, 5000), st.floats(0.0, 0.99), st.floats(0.5, 0.9999), st.floats(1e-8, 1.0),
       st.floats(1e-4, 0.5), st.booleans(), st.integers(0, 2**31))
def test_keras_epsilon_hat_is_torch_eps_times_sqrt_one_minus_beta2_to_the_t(t, beta1, beta2, eps, lr, amsgrad, seed):
    """One step from the same moments at any step t: Keras Adam with
    epsilon = eps*sqrt(1 - beta2^(t+1)) equals torch Adam with eps (both moments too)."""
    rng = np.random.default_rng(seed)
    w, g, m = rng.standard_normal((3, 6))
    v, vmax = rng.random(6), rng.random(6) + 0.5
    keras = optim.Adam(lr, beta1, beta2, epsilon=equivalent.adam_epsilon_hat(eps, beta2, t + 1), amsgrad=amsgrad)
    torch = torch_form.Adam(lr, (beta1, beta2), eps, amsgrad=amsgrad)
    iters = np.array(t, dtype=np.int64)
    keras_slots = {"m": [m], "v": [v]} | ({"vhat": [vmax]} if amsgrad else {})
    torch_slots = {"exp_avg": [m], "exp_avg_sq": [v]} | ({"max_exp_avg_sq": [vmax]} if amsgrad else {})
    wk, sk = keras.step(w, g, OptState(iters, keras_slots))
    wt, st_ = torch.step(w, g, OptState(iters, torch_slots))
    assert close(wk, wt) and not np.array_equal(wk, w)
    assert close(sk.slots["m"][0], st_.slots["exp_avg"][0]) and close(sk.slots["v"][0], st_.slots["exp_avg_sq"][0])
    assert equivalent.torch_adam_eps(equivalent.adam_epsilon_hat(eps, beta2, t + 1), beta2, t + 1) == pytest.approx(
        eps, rel=1e-12)


@settings(deadline=None, max_examples=30)
@given(st.floats(0.5, 0.99), st.floats(1e-6, 0.5), problems)
def test_a_whole_adam_run_matches_with_the_per_step_epsilon(beta2, eps, problem):
    theta0, grad_fn = grad_fn_of(*problem)
    torch = torch_form.Adam(0.05, (0.9, beta2), eps)
    expected = trajectory(torch, theta0, grad_fn)
    theta, state = theta0.copy(), optim.Adam(0.05, 0.9, beta2).init(theta0)
    for k in range(STEPS):  # one Keras optimizer per step: its epsilon is step-dependent
        keras = optim.Adam(0.05, 0.9, beta2, epsilon=equivalent.adam_epsilon_hat(eps, beta2, k + 1))
        theta, state = keras.step(theta, grad_fn(theta), state)
        assert close(theta, expected[k])


@settings(deadline=None, max_examples=30)
@given(st.floats(1e-3, 1.0), st.floats(0.0, 1.0), problems)
def test_torch_adagrad_lr_decay_is_the_legacy_decay_schedule(lr, lr_decay, problem):
    theta0, grad_fn = grad_fn_of(*problem)
    built_in = torch_form.Adagrad(lr, lr_decay=lr_decay)
    scheduled = torch_form.Adagrad(schedules.legacy_decay(lr, lr_decay))
    assert close(trajectory(built_in, theta0, grad_fn), trajectory(scheduled, theta0, grad_fn))


@settings(deadline=None, max_examples=40)
@given(st.floats(1e-3, 1.0), st.integers(1, 8), st.floats(0.1, 0.99), st.integers(1, 4),
       st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.integers(1, 10), st.integers(1, 30), st.floats(0, 0.9))
def test_keras_schedules_equal_to_pytorch_schedulers(lr, step_size, gamma, k, start, end, total, t_max, eta_frac):
    t = np.arange(100)
    for torch_schedule in (lr_scheduler.StepLR(lr, step_size, gamma, steps_per_epoch=k),
                           lr_scheduler.ExponentialLR(lr, gamma, steps_per_epoch=k),
                           lr_scheduler.LinearLR(lr, start, end, total)):
        keras = equivalent.keras_schedule(torch_schedule)
        assert isinstance(keras, schedules.Schedule)
        np.testing.assert_allclose(keras(t), torch_schedule(t), rtol=1e-12)
    cosine = lr_scheduler.CosineAnnealingLR(lr, t_max, eta_frac * lr)
    upto = np.arange(t_max + 1)  # equal until T_max; then PyTorch climbs back and Keras stays
    np.testing.assert_allclose(equivalent.keras_schedule(cosine)(upto), cosine(upto), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make, reason", [
    (lambda: equivalent.to_torch(optim.SGD(lr_scheduler.StepLR(0.1, 5), momentum=0.9)), "schedule"),
    (lambda: equivalent.to_torch(optim.SGD(0.1, momentum=0.9, weight_decay=0.1)), "weight_decay"),
    (lambda: equivalent.to_torch(optim.SGD(0.1, clipnorm=1.0)), "clip"),
    (lambda: equivalent.to_torch(optim.Adam()), "adam_epsilon_hat"),
    (lambda: equivalent.to_torch(optim.RMSprop()), "inside the square root"),
    (lambda: equivalent.to_torch(optim.Adagrad()), "inside the square root"),
    (lambda: equivalent.to_keras(torch_form.SGD(0.1, momentum=0.9, dampening=0.5)), "dampening"),
    (lambda: equivalent.to_keras(torch_form.SGD(0.1, maximize=True)), "maximize"),
    (lambda: equivalent.to_keras(torch_form.AdamW()), "adam_epsilon_hat"),
    (lambda: equivalent.keras_schedule(lr_scheduler.OneCycleLR(0.1, total_steps=10)), "no exact"),
    (lambda: equivalent.keras_schedule(lr_scheduler.LinearLR(0.1, steps_per_epoch=3)), "staircase"),
])
def test_no_exact_translation_is_refused_with_the_reason(make, reason):
    with pytest.raises(ValueError, match=reason):
        make()


def test_under_a_step_decay_momentum_forms_part_ways():
    """The reason for the refusal, measured: same lr schedule, same momentum, different iterates."""
    theta0, grad_fn = np.array([1.0, -2.0]), lambda th: np.array([0.2, 4.0]) * th
    rate = lr_scheduler.StepLR(0.4, 3, 0.1)
    keras = trajectory(optim.SGD(rate, momentum=0.5), theta0, grad_fn, 10)
    torch = trajectory(torch_form.SGD(rate, momentum=0.5), theta0, grad_fn, 10)
    assert np.allclose(keras[:3], torch[:3], rtol=1e-12) and np.max(np.abs(keras - torch)) > 0.05
