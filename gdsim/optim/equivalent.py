"""Exact translations between the Keras forms and the PyTorch forms, where one exists.

"Exact" means equal iterates in exact arithmetic (and to rounding in float64) for every
gradient sequence. The known cases, and why the others have none:

* **SGD without momentum**: identical, any learning rate or schedule; Keras's decoupled
  ``w - w*wd*lr`` and PyTorch's L2 ``w - lr*(g + wd*w)`` are the same step.
* **SGD with momentum** (dampening 0, no weight decay): Keras's velocity is
  ``v = -lr*b`` for PyTorch's buffer ``b`` -- only while lr is constant. Under a schedule
  PyTorch's new lr rescales the whole buffer, Keras's velocity keeps the old rates: no
  exact translation (figure 14).
* **Adam**: Keras's ``epsilon`` (on ``sqrt(v)``) equals PyTorch's ``eps`` (on
  ``sqrt(v/(1-beta2^s))``) when ``epsilon = eps*sqrt(1 - beta2^s)`` at step ``s`` --
  :func:`adam_epsilon_hat`; a constant epsilon matches no constant eps.
* **RMSprop and Adagrad**: Keras's ``sqrt(v + eps)`` and PyTorch's ``sqrt(v) + eps`` differ
  by an amount that depends on ``v``: no hyper-parameter translates one into the other.
* **Schedules**: :func:`keras_schedule` gives the Keras schedule equal to a PyTorch scheduler.

Each function raises ``ValueError`` saying why when no exact translation exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import torch_form
from gdsim.optim.hyper import Hyper
from gdsim.optim.pipeline import Optimizer
from gdsim.optim.sgd import SGD

__all__ = ["to_torch", "to_keras", "adam_epsilon_hat", "torch_adam_eps", "keras_schedule"]


def _nonzero(h: Any) -> bool:
    return h is not None and bool(np.any(np.asarray(h) != 0))


def to_torch(optimizer: Optimizer) -> torch_form.TorchOptimizer:
    """The PyTorch form with the same iterates as the Keras-form ``optimizer``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a gdsim.optim optimizer (Keras form), got "
                        f"{_validate.show(optimizer)}")
    if type(optimizer) is not SGD:
        raise ValueError(f"{type(optimizer).__name__} has no exact PyTorch form: "
                         + _WHY.get(type(optimizer).__name__, "only SGD translates exactly"))
    if optimizer.clipnorm is not None or optimizer.clipvalue is not None or optimizer.global_clipnorm is not None:
        raise ValueError("torch.optim.SGD does not clip gradients (PyTorch clips outside the optimizer)")
    if not _nonzero(optimizer.momentum):
        return torch_form.SGD(lr=optimizer.learning_rate,
                              weight_decay=0.0 if optimizer.weight_decay is None else optimizer.weight_decay)
    _check_momentum_translates(optimizer.learning_rate, _nonzero(optimizer.weight_decay))
    return torch_form.SGD(lr=optimizer.learning_rate, momentum=optimizer.momentum, dampening=0.0,
                          nesterov=optimizer.nesterov)


def to_keras(optimizer: torch_form.TorchOptimizer) -> Optimizer:
    """The Keras form with the same iterates as the PyTorch-form ``optimizer``."""
    if not isinstance(optimizer, torch_form.TorchOptimizer):
        raise TypeError(f"optimizer must be a gdsim.optim.torch_form optimizer, got "
                        f"{_validate.show(optimizer)}")
    if type(optimizer) is not torch_form.SGD:
        raise ValueError(f"torch_form.{type(optimizer).__name__} has no exact Keras form: "
                         + _WHY.get(type(optimizer).__name__, "only SGD translates exactly"))
    if optimizer.maximize:
        raise ValueError("Keras optimizers have no maximize: negate the gradient instead")
    weight_decay = optimizer.weight_decay if _nonzero(optimizer.weight_decay) else None
    if not _nonzero(optimizer.momentum):
        return SGD(learning_rate=optimizer.learning_rate, weight_decay=weight_decay)
    _check_momentum_translates(optimizer.learning_rate, weight_decay is not None)
    if _nonzero(optimizer.dampening):
        raise ValueError("dampening != 0 has no Keras form: PyTorch's first step ignores it "
                         "(b_1 = g_1), so no constant Keras learning rate matches every step")
    if np.any(np.asarray(optimizer.momentum) > 1):
        raise ValueError("Keras SGD needs momentum in [0, 1]")
    return SGD(learning_rate=optimizer.learning_rate, momentum=optimizer.momentum,
               nesterov=optimizer.nesterov)


def _check_momentum_translates(learning_rate: Any, weight_decay: bool) -> None:
    if callable(learning_rate):
        raise ValueError("momentum under a learning-rate schedule has no exact translation: PyTorch "
                         "multiplies its whole buffer b by the current lr (w -= lr_t*b), Keras "
                         "builds its velocity from past rates (v = m*v - lr_t*g); they agree only "
                         "for a constant lr (see figure 14, same name, different numbers)")
    if weight_decay:
        raise ValueError("with momentum, PyTorch's weight_decay (added to the gradient, so it "
                         "enters the buffer) and Keras's (decoupled, w -= w*wd*lr) differ")


_WHY = {
    "Adam": "its epsilon is added to sqrt(v) (Keras) or to sqrt(v/(1-beta2^t)) (PyTorch); "
            "equal only for a step-dependent epsilon, see adam_epsilon_hat",
    "AdamW": "its epsilon is added to sqrt(v/(1-beta2^t)); Keras adds it to sqrt(v) "
             "(see adam_epsilon_hat); the decoupled decay itself is the same",
    "RMSprop": "Keras adds epsilon inside the square root, sqrt(v + eps); PyTorch outside, "
               "sqrt(v) + eps: the difference depends on v",
    "Adagrad": "Keras adds epsilon inside the square root, sqrt(a + eps); PyTorch outside, "
               "sqrt(a) + eps: the difference depends on a",
}


def adam_epsilon_hat(eps: Hyper, beta_2: Hyper, step: Any) -> Hyper:
    """Keras's Adam ``epsilon`` that makes step ``step`` (1 for the first) equal to PyTorch's
    Adam with ``eps``: ``epsilon = eps * sqrt(1 - beta_2**step)``.

    From ``lr/(1-b1^s) * m/(sqrt(v)/sqrt(1-b2^s) + eps)
    = lr*sqrt(1-b2^s)/(1-b1^s) * m/(sqrt(v) + eps*sqrt(1-b2^s))``; m and v are the same
    moments in both forms, so one step from the same state gives the same parameters.
    """
    value = np.asarray(eps, dtype=np.float64) * np.sqrt(1 - np.asarray(beta_2) ** np.asarray(step, dtype=np.float64))
    return value[()]


def torch_adam_eps(epsilon: Hyper, beta_2: Hyper, step: Any) -> Hyper:
    """Inverse of :func:`adam_epsilon_hat`: PyTorch's ``eps`` equal to Keras's ``epsilon`` at
    step ``step``."""
    value = np.asarray(epsilon, dtype=np.float64) / np.sqrt(1 - np.asarray(beta_2) ** np.asarray(step, dtype=np.float64))
    return value[()]


def keras_schedule(schedule: Any) -> Any:
    """The Keras schedule (``gdsim.schedules``) equal to a PyTorch scheduler from
    :mod:`gdsim.optim.torch_form.lr_scheduler`:

    * ``StepLR(lr, s, gamma, steps_per_epoch=k)`` -> ``ExponentialDecay(lr, s*k, gamma, staircase=True)``
    * ``ExponentialLR(lr, gamma, k)`` -> ``ExponentialDecay(lr, k, gamma, staircase=k > 1)``
    * ``LinearLR(lr, a, b, n)`` (k = 1) -> ``CosineDecay(a*lr, 1, alpha=1, warmup_target=b*lr,
      warmup_steps=n)`` (alpha = 1: the "decay" after the warm-up is flat)
    * ``CosineAnnealingLR(lr, T, eta_min)`` (k = 1) -> ``CosineDecay(lr, T, alpha=eta_min/lr)``,
      equal for steps ``t <= T`` only: after T PyTorch's cosine climbs back, Keras's stays
    * ``OneCycleLR``: none.
    """
    from gdsim import schedules  # a layer below optim, needed only here
    from gdsim.optim.torch_form import lr_scheduler as torch_schedules

    k = getattr(schedule, "steps_per_epoch", 1)
    if isinstance(schedule, torch_schedules.StepLR):
        return schedules.ExponentialDecay(schedule.lr, schedule.step_size * k, schedule.gamma, staircase=True)
    if isinstance(schedule, torch_schedules.ExponentialLR):
        return schedules.ExponentialDecay(schedule.lr, k, schedule.gamma, staircase=k > 1)
    if isinstance(schedule, (torch_schedules.LinearLR, torch_schedules.CosineAnnealingLR)) and k != 1:
        raise ValueError(f"{type(schedule).__name__} with steps_per_epoch={k} is a staircase; "
                         f"Keras's CosineDecay is continuous in the step")
    if isinstance(schedule, torch_schedules.LinearLR):
        if schedule.end_factor == 0 or isinstance(schedule.lr, np.ndarray):
            raise ValueError("LinearLR translates only with end_factor > 0 and a scalar lr "
                             "(Keras's warmup_target is one positive number)")
        return schedules.CosineDecay(schedule.lr * schedule.start_factor, 1, alpha=1.0,
                                     warmup_target=schedule.lr * schedule.end_factor,
                                     warmup_steps=schedule.total_iters)
    if isinstance(schedule, torch_schedules.CosineAnnealingLR):
        if isinstance(schedule.lr, np.ndarray) or schedule.eta_min > schedule.lr:
            raise ValueError("CosineAnnealingLR translates only with a scalar lr >= eta_min")
        return schedules.CosineDecay(schedule.lr, schedule.T_max, alpha=schedule.eta_min / schedule.lr)
    raise ValueError(f"{type(schedule).__name__} has no exact Keras schedule")
