"""SGD with optional (Nesterov) momentum -- Keras ``SGD`` (``keras/src/optimizers/sgd.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.pipeline import Optimizer

__all__ = ["sgd", "SGD", "GD"]


def sgd(w, g, slots, lr, t, *, momentum, nesterov):
    r"""With velocity ``v`` (slot ``"momentum"``, starts at 0), gradient ``g``, rate ``lr``:

    * momentum = 0:  ``w <- w - lr*g`` (no slot is kept)
    * momentum m:    ``v <- m*v - lr*g ;  w <- w + v``
    * nesterov:      ``v <- m*v - lr*g ;  w <- w + m*v - lr*g``  (with the *new* v)
    """
    if "momentum" not in slots:
        return w - g * lr, slots
    v = slots["momentum"] * momentum - g * lr
    if nesterov:
        return w + (v * momentum - g * lr), {"momentum": v}
    return w + v, {"momentum": v}


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum -- Keras ``SGD``.

    The update is :func:`sgd`. PyTorch differs in form: ``torch.optim.SGD`` (here
    :class:`gdsim.optim.torch_form.SGD`) keeps ``b <- m*b + (1-dampening)*g`` and steps
    ``w <- w - lr*b``; with constant lr and dampening 0 the iterates are the same, but a
    changing lr rescales past velocity in torch and not here.

    Args:
        learning_rate: > 0, a schedule ``f(iterations)``, or an array over the runs axes.
        momentum: in [0, 1]; scalar or array over the runs axes. Unlike Keras (which raises
            for ``momentum=0``), Python ints are accepted.
        nesterov: Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm: as in Keras (``gdsim.optim``).
    """

    rule = sgd
    coefficients = ("momentum",)
    flags = ("nesterov",)
    elementwise = True

    def __init__(self, learning_rate: Any = 0.01, momentum: Any = 0.0, nesterov: bool = False, *,
                 weight_decay: Any = None, clipnorm: Any = None, clipvalue: Any = None,
                 global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.momentum = hyper.hyper("momentum", momentum, hyper.unit)
        self.nesterov = _validate.boolean("nesterov", nesterov)

    def _own_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _slots_for(self) -> tuple[str, ...]:
        # Keras keeps a velocity only when momentum != 0; an array of momenta always needs one.
        return ("momentum",) if isinstance(self.momentum, np.ndarray) or self.momentum != 0 else ()


#: Plain gradient descent: the same update as :class:`SGD`; "GD" when the gradient oracle is
#: exact (no minibatch sampling, no injected noise), "SGD" when it is stochastic.
GD = SGD
