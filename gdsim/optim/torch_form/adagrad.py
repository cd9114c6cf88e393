"""Adagrad with lr_decay -- PyTorch's ``torch.optim.Adagrad``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.hyper import meet
from gdsim.optim.torch_form.base import TorchOptimizer

__all__ = ["adagrad", "Adagrad"]


def adagrad(w, g, slots, lr, t, *, lr_decay, eps):
    r"""With ``t`` completed steps::

        clr = lr / (1 + t*lr_decay)
        s <- s + g^2                        # slot "sum", starts at initial_accumulator_value
        w <- w - clr * g / (sqrt(s) + eps)  # eps OUTSIDE the sqrt (Keras: sqrt(s + eps))
    """
    clr = lr / (1 + t * lr_decay)
    s = slots["sum"] + g * g
    return w - meet(clr, w) * (g / (np.sqrt(s) + meet(eps, w))), {"sum": s}


class Adagrad(TorchOptimizer):
    r"""``torch.optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, *, maximize=False)``; the update is :func:`adagrad`.
    Keras starts the accumulator at 0.1 and has no ``lr_decay``
    (``schedules.legacy_decay(lr, lr_decay)`` is the same decay as a schedule)."""

    rule = adagrad
    slot_names = ("sum",)
    coefficients = ("lr_decay", "eps")
    elementwise = True

    def __init__(self, lr: Any = 1e-2, lr_decay: Any = 0.0, weight_decay: Any = 0.0,
                 initial_accumulator_value: Any = 0.0, eps: Any = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(lr, weight_decay=weight_decay, maximize=maximize)
        self.lr_decay = hyper.hyper("lr_decay", lr_decay, _validate.nonnegative)
        self.initial_accumulator_value = hyper.hyper(
            "initial_accumulator_value", initial_accumulator_value, _validate.nonnegative)
        self.eps = hyper.hyper("eps", eps, _validate.nonnegative)

    def _own_config(self) -> dict[str, Any]:
        return {"lr_decay": self.lr_decay, "initial_accumulator_value": self.initial_accumulator_value,
                "eps": self.eps}

    def _initial(self, slot: str, param: np.ndarray) -> np.ndarray:
        a0 = hyper.cast("initial_accumulator_value", self.initial_accumulator_value, param)
        return np.broadcast_to(a0, param.shape).astype(param.dtype, copy=True)
