"""RMSprop, plain, centered and with momentum -- Keras ``RMSprop`` (``keras/src/optimizers/rmsprop.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.pipeline import Optimizer

__all__ = ["rmsprop", "RMSprop"]


def rmsprop(w, g, slots, lr, t, *, rho, one_minus_rho, momentum, epsilon, centered):
    r"""::

        v <- rho*v + (1-rho)*g^2                          # slot "velocity", starts at 0
        gbar <- rho*gbar + (1-rho)*g                      # centered only, slot "average_gradient"
        d = v + eps   (centered: v - gbar^2 + eps)        # eps INSIDE the sqrt
        inc = lr*g / sqrt(d)
        momentum > 0:  mom <- momentum*mom + inc ; w <- w - mom    (slot "momentum")
        else:          w <- w - inc
    """
    v = rho * slots["velocity"] + one_minus_rho * np.square(g)
    new = {"velocity": v}
    if centered:
        gbar = new["average_gradient"] = rho * slots["average_gradient"] + one_minus_rho * g
        denominator = v - np.square(gbar) + epsilon
    else:
        denominator = v + epsilon
    increment = (lr * g) / np.sqrt(denominator)
    if "momentum" not in slots:
        return w - increment, new
    mom = new["momentum"] = momentum * slots["momentum"] + increment
    return w - mom, new


class RMSprop(Optimizer):
    r"""RMSprop -- Keras ``RMSprop``; the update is :func:`rmsprop`.

    PyTorch's ``torch.optim.RMSprop`` (here :class:`gdsim.optim.torch_form.RMSprop`) puts eps
    outside: ``g / (sqrt(v) + eps)``, uses ``alpha`` for rho (default 0.99) and eps 1e-8.

    Args:
        learning_rate: > 0, schedule or runs array. rho: in [0, 1). momentum: in [0, 1] (ints
            accepted). epsilon: > 0. centered: subtract the squared mean gradient.
    """

    rule = rmsprop
    coefficients = ("rho", "momentum", "epsilon")
    complements = ("rho",)
    flags = ("centered",)
    elementwise = True

    def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.9, momentum: Any = 0.0,
                 epsilon: Any = 1e-7, centered: bool = False, *, weight_decay: Any = None,
                 clipnorm: Any = None, clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.rho = hyper.hyper("rho", rho, hyper.unit_open)
        self.momentum = hyper.hyper("momentum", momentum, hyper.unit)
        self.epsilon = hyper.hyper("epsilon", epsilon, _validate.positive)
        self.centered = _validate.boolean("centered", centered)

    def _own_config(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _slots_for(self) -> tuple[str, ...]:
        slots = ["velocity"]
        if isinstance(self.momentum, np.ndarray) or self.momentum > 0:
            slots.append("momentum")
        if self.centered:
            slots.append("average_gradient")
        return tuple(slots)
