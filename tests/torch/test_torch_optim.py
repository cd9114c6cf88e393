"""gdsim.optim.torch_form against torch.optim itself: 50 steps per optimizer and setting.

Both sides start from the same parameters and take gradients of the same function of their
own iterates, ``g = c*(w - target) + noise_k`` (noise fixed in advance), so any difference in
the update shows up and compounds, as it would in training. float64 agrees to 1e-12 and
float32 to 1e-6 (relative to the parameter scale), with PyTorch's own schedulers driving the
learning rate where one is named.
"""

import numpy as np
import pytest

from gdsim.optim import torch_form
from gdsim.optim.torch_form import lr_scheduler

STEPS = 50
SHAPES = [(3, 4), (5,)]

SETTINGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "eps": 0.1, "betas": (0.5, 0.9)}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "eps": 1e-3}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "eps": 1e-3, "maximize": True}),
]

#: (gdsim schedule, torch scheduler factory, optimizer steps per scheduler.step())
SCHEDULES = {
    "StepLR": (lambda lr: lr_scheduler.StepLR(lr, 3, 0.5, steps_per_epoch=4),
               lambda t, opt: t.optim.lr_scheduler.StepLR(opt, 3, 0.5), 4),
    "ExponentialLR": (lambda lr: lr_scheduler.ExponentialLR(lr, 0.95),
                      lambda t, opt: t.optim.lr_scheduler.ExponentialLR(opt, 0.95), 1),
    "CosineAnnealingLR": (lambda lr: lr_scheduler.CosineAnnealingLR(lr, 20, 1e-3),
                          lambda t, opt: t.optim.lr_scheduler.CosineAnnealingLR(opt, 20, 1e-3), 1),
    "LinearLR": (lambda lr: lr_scheduler.LinearLR(lr, 0.1, 1.0, 4, steps_per_epoch=5),
                 lambda t, opt: t.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, 4), 5),
    "OneCycleLR": (lambda lr: lr_scheduler.OneCycleLR(lr, total_steps=STEPS),
                   lambda t, opt: t.optim.lr_scheduler.OneCycleLR(opt, opt.param_groups[0]["lr"],
                                                                  total_steps=STEPS, cycle_momentum=False), 1),
}
SCHEDULED = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 0.05}),
             ("RMSprop", {"lr": 0.01, "momentum": 0.5}), ("Adagrad", {"lr": 0.1})]

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-6}


def _problem(dtype):
    rng = np.random.default_rng(17)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    target = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    noise = [[(0.3 * rng.standard_normal(s)).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    curvature = [np.asarray(c, dtype) for c in (0.7, 2.0)]
    return start, target, noise, curvature


def _grads(params, target, noise, curvature):
    return [c * (w - z) + n for w, z, n, c in zip(params, target, noise, curvature)]


def run_both(torch, name, kwargs, dtype, schedule=None):
    """The two trajectories: lists of (param arrays) after each step, gdsim's and torch's."""
    start, target, noise, curvature = _problem(dtype)
    gdsim_kwargs = dict(kwargs)
    if schedule is not None:
        gdsim_kwargs["lr"] = SCHEDULES[schedule][0](kwargs["lr"])
    opt = getattr(torch_form, name)(**gdsim_kwargs)
    params, state = [p.copy() for p in start], opt.init(start)
    ours = []
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in start]
    topt = getattr(torch.optim, name)(tparams, foreach=False, **kwargs)
    scheduler, every = (None, 1) if schedule is None else (SCHEDULES[schedule][1](torch, topt), SCHEDULES[schedule][2])
    theirs = []
    for k in range(STEPS):
        params, state = opt.step(params, _grads(params, target, noise[k], curvature), state)
        ours.append([p.copy() for p in params])
        current = [p.detach().numpy() for p in tparams]
        for p, g in zip(tparams, _grads(current, target, noise[k], curvature)):
            p.grad = torch.from_numpy(np.ascontiguousarray(g))
        topt.step()
        if scheduler is not None and (k + 1) % every == 0:
            scheduler.step()
        theirs.append([p.detach().numpy().copy() for p in tparams])
    return ours, theirs


def worst_error(ours, theirs):
    """Largest |gdsim - torch| over all steps and elements, relative to max(|torch|, 1)."""
    return max(float(np.max(np.abs(a.astype(np.float64) - b) / np.maximum(np.abs(b), 1.0)))
               for step_a, step_b in zip(ours, theirs) for a, b in zip(step_a, step_b))


def _label(setting):
    name, kwargs = setting
    return name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("setting", SETTINGS, ids=[_label(s) for s in SETTINGS])
def test_torch_form_matches_torch_optim(torch, setting, dtype):
    ours, theirs = run_both(torch, *setting, dtype)
    assert all(a.dtype == dtype for a in ours[-1])
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(theirs[-1], _problem(dtype)[0]))
    assert moved > 1e-3, "the parameters barely moved: the comparison would prove nothing"
    assert worst_error(ours, theirs) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("setting", SCHEDULED, ids=[s[0] for s in SCHEDULED])
def test_torch_schedulers_drive_the_same_trajectory(torch, setting, schedule, dtype):
    ours, theirs = run_both(torch, *setting, dtype, schedule=schedule)
    assert worst_error(ours, theirs) <= TOLERANCE[dtype]


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_torch_scheduler_learning_rates(torch, schedule):
    """The learning rate each optimizer step sees, as PyTorch's scheduler sets it."""
    ours_schedule, make, every = SCHEDULES[schedule]
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1)
    scheduler = make(torch, opt)
    seen = []
    for k in range(STEPS):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if (k + 1) % every == 0:
            scheduler.step()
    np.testing.assert_allclose(ours_schedule(0.1)(np.arange(STEPS)), seen, rtol=1e-13, atol=0)
