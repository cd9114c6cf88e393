"""PyTorch's learning-rate schedulers as gdsim schedules: ``lr(step)``, vectorized.

PyTorch's schedulers are objects you ``step()``; gdsim's schedules are functions of the number
of completed optimizer steps ``t`` (the optimizer evaluates them at the *current* iterations,
0 on the first step). The translation is PyTorch's usual loop::

    for epoch in range(epochs):
        for batch in loader:            # steps_per_epoch batches
            optimizer.step()
        scheduler.step()                # StepLR, ExponentialLR, CosineAnnealingLR, LinearLR

so optimizer step ``t`` runs with the scheduler's ``last_epoch = t // steps_per_epoch``.
``steps_per_epoch=1`` (the default) means ``scheduler.step()`` after every optimizer step.
``OneCycleLR`` is stepped after every batch, as PyTorch documents, so ``last_epoch = t``;
like PyTorch, it refuses ``t > total_steps``.

Values use PyTorch's closed forms (``_get_closed_form_lr``) in double precision (PyTorch's
``lr`` is a Python float); ``scheduler.step()`` itself updates some of them recursively, which
agrees to rounding (a few 1e-15 relative over 50 steps, measured against torch 2.13). ``evaluate(step, dtype)`` casts the
double-precision value to ``dtype``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdsim import _validate, schedules
from gdsim.optim import hyper

__all__ = ["TorchSchedule", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR"]


class TorchSchedule(schedules.Schedule):
    """Base: a PyTorch scheduler over ``lr`` (PyTorch's ``base_lr``), stepped per epoch of
    ``steps_per_epoch`` optimizer steps."""

    def __init__(self, lr: Any, steps_per_epoch: Any = 1, *, lr_name: str = "lr") -> None:
        self.lr = hyper.hyper(lr_name, lr, _validate.positive)
        self.steps_per_epoch = _validate.integer("steps_per_epoch", steps_per_epoch, minimum=1)

    @property
    def initial_learning_rate(self) -> Any:  # the name gdsim.schedules uses for the shape
        return self.lr

    def _compute(self, step: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return np.asarray(self._lr(step // self.steps_per_epoch), dtype=np.float64).astype(dtype)

    def _lr(self, epoch: np.ndarray) -> np.ndarray:
        """The closed form at ``last_epoch = epoch`` (int array), in float64."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"lr": self.lr, **self._own_config(), "steps_per_epoch": self.steps_per_epoch}

    def _own_config(self) -> dict[str, Any]:
        return {}


class StepLR(TorchSchedule):
    """``torch.optim.lr_scheduler.StepLR``: ``lr * gamma ** (epoch // step_size)``."""

    def __init__(self, lr: Any, step_size: Any, gamma: Any = 0.1, steps_per_epoch: Any = 1) -> None:
        super().__init__(lr, steps_per_epoch)
        self.step_size = _validate.integer("step_size", step_size, minimum=1)
        self.gamma = _validate.positive("gamma", gamma)

    def _lr(self, epoch):
        return np.asarray(self.lr) * self.gamma ** (epoch // self.step_size).astype(np.float64)

    def _own_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialLR(TorchSchedule):
    """``torch.optim.lr_scheduler.ExponentialLR``: ``lr * gamma ** epoch``."""

    def __init__(self, lr: Any, gamma: Any, steps_per_epoch: Any = 1) -> None:
        super().__init__(lr, steps_per_epoch)
        self.gamma = _validate.positive("gamma", gamma)

    def _lr(self, epoch):
        return np.asarray(self.lr) * self.gamma ** epoch.astype(np.float64)

    def _own_config(self):
        return {"gamma": self.gamma}


class CosineAnnealingLR(TorchSchedule):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``:
    ``eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``. After ``T_max`` the
    cosine climbs back up (PyTorch does not stop at eta_min; Keras's ``CosineDecay`` does)."""

    def __init__(self, lr: Any, T_max: Any, eta_min: Any = 0.0, steps_per_epoch: Any = 1) -> None:  # noqa: N803
        super().__init__(lr, steps_per_epoch)
        self.T_max = _validate.integer("T_max", T_max, minimum=1)
        self.eta_min = _validate.nonnegative("eta_min", eta_min)

    def _lr(self, epoch):
        cosine = 1 + np.cos(math.pi * epoch.astype(np.float64) / self.T_max)
        return self.eta_min + (np.asarray(self.lr) - self.eta_min) * cosine / 2

    def _own_config(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class LinearLR(TorchSchedule):
    """``torch.optim.lr_scheduler.LinearLR`` (the usual warm-up):
    ``lr * (start_factor + (end_factor - start_factor) * min(total_iters, epoch) / total_iters)``."""

    def __init__(self, lr: Any, start_factor: Any = 1.0 / 3, end_factor: Any = 1.0, total_iters: Any = 5,
                 steps_per_epoch: Any = 1) -> None:
        super().__init__(lr, steps_per_epoch)
        self.start_factor = _validate.in_range("start_factor", start_factor, 0.0, 1.0, low_open=True,
                                               high_open=False)
        self.end_factor = _validate.in_range("end_factor", end_factor, 0.0, 1.0, high_open=False)
        self.total_iters = _validate.integer("total_iters", total_iters, minimum=1)

    def _lr(self, epoch):
        done = np.minimum(self.total_iters, epoch).astype(np.float64)
        factor = self.start_factor + (self.end_factor - self.start_factor) * done / self.total_iters
        return np.asarray(self.lr) * factor

    def _own_config(self):
        return {"start_factor": self.start_factor, "end_factor": self.end_factor,
                "total_iters": self.total_iters}


class OneCycleLR(TorchSchedule):
    """``torch.optim.lr_scheduler.OneCycleLR`` with ``cycle_momentum=False`` (gdsim schedules
    set the learning rate only), stepped once per batch.

    From ``max_lr/div_factor`` up to ``max_lr`` over the first ``pct_start*total_steps - 1``
    steps, then down to ``max_lr/div_factor/final_div_factor`` at step ``total_steps - 1``
    (``three_phase``: up, back down to the start, then down to the minimum), annealing
    ``end + (start - end)/2 * (1 + cos(pi*pct))`` or linearly. ``total_steps`` or
    ``epochs * steps_per_epoch``.
    """

    def __init__(self, max_lr: Any, total_steps: Any = None, epochs: Any = None,
                 steps_per_epoch: Any = None, pct_start: Any = 0.3, anneal_strategy: str = "cos",
                 div_factor: Any = 25.0, final_div_factor: Any = 1e4, three_phase: bool = False) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")
            total = (_validate.integer("epochs", epochs, minimum=1)
                     * _validate.integer("steps_per_epoch", steps_per_epoch, minimum=1))
        else:
            total = _validate.integer("total_steps", total_steps, minimum=1)
        super().__init__(max_lr, 1, lr_name="max_lr")
        self.max_lr, self.total_steps = self.lr, total
        self.pct_start = _validate.in_range("pct_start", pct_start, 0.0, 1.0, high_open=False)
        self.anneal_strategy = _validate.choice("anneal_strategy", anneal_strategy, ["cos", "linear"])
        self.div_factor = _validate.positive("div_factor", div_factor)
        self.final_div_factor = _validate.positive("final_div_factor", final_div_factor)
        self.three_phase = _validate.boolean("three_phase", three_phase)

    def _phases(self) -> list[tuple[float, Any, Any]]:
        """``(end_step, start_lr, end_lr)`` per phase, as PyTorch builds them."""
        initial = np.asarray(self.max_lr) / self.div_factor
        low = initial / self.final_div_factor
        rise_end = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            return [(rise_end, initial, self.max_lr),
                    (float(2 * self.pct_start * self.total_steps) - 2, self.max_lr, initial),
                    (self.total_steps - 1, initial, low)]
        return [(rise_end, initial, self.max_lr), (self.total_steps - 1, self.max_lr, low)]

    def _anneal(self, start: Any, end: Any, pct: np.ndarray) -> np.ndarray:
        if self.anneal_strategy == "cos":
            return end + (np.asarray(start) - end) / 2.0 * (np.cos(math.pi * pct) + 1)
        return (np.asarray(end) - start) * pct + start

    def _lr(self, epoch):
        if np.any(epoch > self.total_steps):
            raise ValueError(f"OneCycleLR was asked for step {int(np.max(epoch))} but total_steps is "
                             f"{self.total_steps} (PyTorch raises there too)")
        s = epoch.astype(np.float64)
        phases = self._phases()
        out = None
        start_step = 0.0
        taken = np.zeros(s.shape, dtype=bool)
        for i, (end_step, start_lr, end_lr) in enumerate(phases):
            here = ~taken & ((s <= end_step) | (i == len(phases) - 1))
            with np.errstate(divide="ignore", invalid="ignore"):  # a phase of zero length is never used
                value = self._anneal(start_lr, end_lr, (s - start_step) / (end_step - start_step))
            out = value if out is None else np.where(here, value, out)
            taken |= here
            start_step = end_step
        return out

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "anneal_strategy": self.anneal_strategy, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor, "three_phase": self.three_phase}
