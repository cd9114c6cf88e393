"""What every PyTorch form shares: PyTorch's argument names, ``maximize``, coupled (L2) or
decoupled (AdamW) weight decay, and PyTorch's precision for scalar coefficients.

The step pipeline is :class:`gdsim.optim.pipeline.Optimizer`'s, with this chain::

    g <- -g                          # maximize=True
    g <- g + weight_decay*w          # coupled weight decay (torch SGD, Adam, RMSprop, Adagrad)
    w <- w * (1 - lr*weight_decay)   # or decoupled (torch AdamW): the gradient never sees it
    rule(w, g, slots, lr, t, ...)

PyTorch computes scalar coefficients (``1 - beta1**t``, ``lr / bias_correction1``,
``1 - lr*weight_decay``) as Python floats, i.e. in double precision, and casts them to the
tensor dtype where they meet a tensor; so do the forms here (:func:`gdsim.optim.hyper.meet`).
A schedule is evaluated in float64 for the same reason (PyTorch's scheduler sets a Python
float ``lr``). Hyper-parameters may be arrays over the runs axes, as for the Keras forms.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.pipeline import Optimizer, Transform

__all__ = ["TorchOptimizer", "Maximize", "CoupledWeightDecay", "TorchDecoupledWeightDecay"]


class Maximize(Transform):
    """``maximize=True``: ascend, ``g <- -g``."""

    def __call__(self, params, grads, lrs, run_ndim):
        return params, [-g for g in grads]


@dataclasses.dataclass(frozen=True)
class CoupledWeightDecay(Transform):
    """PyTorch's ``weight_decay`` for SGD, Adam, RMSprop, Adagrad (an L2 penalty):
    ``g <- g + weight_decay*w``, so the rule's moments see it."""

    weight_decay: hyper.Hyper

    def __call__(self, params, grads, lrs, run_ndim):
        return params, [g + hyper.cast("weight_decay", self.weight_decay, w) * w
                        for w, g in zip(params, grads)]


@dataclasses.dataclass(frozen=True)
class TorchDecoupledWeightDecay(Transform):
    """PyTorch AdamW's ``weight_decay``: ``w <- w * (1 - lr*weight_decay)`` (Keras writes
    ``w - w*weight_decay*lr``: the same in exact arithmetic)."""

    weight_decay: hyper.Hyper

    def __call__(self, params, grads, lrs, run_ndim):
        out = [w * hyper.meet(1 - lr * hyper.runs_shaped("weight_decay", self.weight_decay, w), w)
               for w, lr in zip(params, lrs)]
        return out, grads


class TorchOptimizer(Optimizer):
    """Base of the PyTorch forms (``lr``, ``weight_decay``, ``maximize``; no clipping --
    PyTorch clips with ``torch.nn.utils.clip_grad_norm_``, outside the optimizer).

    Subclasses list in ``coefficients`` the hyper-parameters their rule takes; the rule gets
    them in double precision, shaped for the runs axes, and casts them where they meet a
    tensor.
    """

    decoupled_weight_decay: bool = False

    def __init__(self, lr: Any, *, weight_decay: Any = 0.0, maximize: bool = False) -> None:
        if callable(lr) and not isinstance(lr, type):  # SGD(lr=float) is no schedule
            self.learning_rate = lr
        else:
            self.learning_rate = hyper.hyper("lr", lr, _validate.nonnegative)
        self.weight_decay = hyper.hyper("weight_decay", weight_decay, _validate.nonnegative)
        self.maximize = _validate.boolean("maximize", maximize)
        self.clipnorm = self.clipvalue = self.global_clipnorm = None

    @property
    def lr(self) -> Any:
        """PyTorch's name for the learning rate."""
        return self.learning_rate

    def get_config(self) -> dict[str, Any]:
        """PyTorch's argument names; ``type(opt)(**config)`` rebuilds it."""
        return {"lr": self.learning_rate, **self._own_config(), "weight_decay": self.weight_decay,
                "maximize": self.maximize}

    def transforms(self) -> list[Transform]:
        chain: list[Transform] = [Maximize()] if self.maximize else []
        if isinstance(self.weight_decay, np.ndarray) or self.weight_decay != 0:
            decay = TorchDecoupledWeightDecay if self.decoupled_weight_decay else CoupledWeightDecay
            chain.append(decay(self.weight_decay))
        return chain

    def current_learning_rate(self, iterations: Any, dtype: Any = np.float64) -> hyper.Hyper:
        return super().current_learning_rate(iterations, np.float64)

    def _learning_rate_for(self, lr: hyper.Hyper, param: np.ndarray) -> Any:
        return hyper.runs_shaped("lr", lr, param)

    def _coefficients(self, like: np.ndarray) -> dict[str, Any]:
        out = {name: hyper.runs_shaped(name, getattr(self, name), like) for name in self.coefficients}
        out.update({name: getattr(self, name) for name in self.flags})
        return out


def check_all(name: str, value: Any, ok: Any, expected: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``ok`` holds for every run."""
    if not np.all(ok):
        raise ValueError(f"{name} must be {expected}, got {hyper.show(value)}")
