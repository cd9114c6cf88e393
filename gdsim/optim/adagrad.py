"""Adagrad -- Keras ``Adagrad`` (``keras/src/optimizers/adagrad.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.pipeline import Optimizer

__all__ = ["adagrad", "Adagrad"]


def adagrad(w, g, slots, lr, t, *, epsilon):
    r"""::

        a <- a + g^2                     # slot "accumulator", starts at initial_accumulator_value
        w <- w - lr*g / sqrt(a + eps)    # eps inside the sqrt
    """
    a = slots["accumulator"] + np.square(g)
    return w - (lr * g) / np.sqrt(a + epsilon), {"accumulator": a}


class Adagrad(Optimizer):
    r"""Adagrad -- Keras ``Adagrad``; the update is :func:`adagrad`.

    PyTorch's ``torch.optim.Adagrad`` (here :class:`gdsim.optim.torch_form.Adagrad`) starts
    the accumulator at 0 and puts eps (1e-10) outside the sqrt.

    Args:
        learning_rate: > 0, schedule or runs array. initial_accumulator_value: >= 0 (Keras
            default 0.1). epsilon: > 0.
    """

    rule = adagrad
    slot_names = ("accumulator",)
    coefficients = ("epsilon",)
    elementwise = True

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: Any = 0.1,
                 epsilon: Any = 1e-7, *, weight_decay: Any = None, clipnorm: Any = None,
                 clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.initial_accumulator_value = hyper.hyper(
            "initial_accumulator_value", initial_accumulator_value, _validate.nonnegative)
        self.epsilon = hyper.hyper("epsilon", epsilon, _validate.positive)

    def _own_config(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}

    def _initial(self, slot: str, param: np.ndarray) -> np.ndarray:
        a0 = hyper.cast("initial_accumulator_value", self.initial_accumulator_value, param)
        return np.broadcast_to(a0, param.shape).astype(param.dtype, copy=True)
