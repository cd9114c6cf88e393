"""RMSprop, plain, centered and with momentum -- PyTorch's ``torch.optim.RMSprop``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.hyper import meet
from gdsim.optim.torch_form.base import TorchOptimizer

__all__ = ["rmsprop", "RMSprop"]


def rmsprop(w, g, slots, lr, t, *, alpha, eps, momentum, centered):
    r"""::

        v <- alpha*v + (1 - alpha)*g^2                    # slot "square_avg"
        gbar <- alpha*gbar + (1 - alpha)*g                # centered only, slot "grad_avg"
        d = sqrt(v) + eps   (centered: sqrt(v - gbar^2) + eps)    # eps OUTSIDE the sqrt
        momentum > 0:  b <- momentum*b + g/d ; w <- w - lr*b      (slot "momentum_buffer")
        else:          w <- w - lr*g/d

    Keras adds its epsilon inside the square root, ``sqrt(v + eps)``, and keeps
    ``lr*g/sqrt(..)`` in its momentum (the same while lr is constant).
    """
    v = slots["square_avg"] * meet(alpha, w) + g * g * meet(1 - alpha, w)
    new = {"square_avg": v}
    if centered:
        gbar = new["grad_avg"] = slots["grad_avg"] + (g - slots["grad_avg"]) * meet(1 - alpha, w)
        v = v - gbar * gbar
    avg = np.sqrt(v) + meet(eps, w)
    if "momentum_buffer" not in slots:
        return w - meet(lr, w) * (g / avg), new
    b = new["momentum_buffer"] = slots["momentum_buffer"] * meet(momentum, w) + g / avg
    return w - meet(lr, w) * b, new


class RMSprop(TorchOptimizer):
    r"""``torch.optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
    momentum=0, centered=False, *, maximize=False)``; the update is :func:`rmsprop`."""

    rule = rmsprop
    coefficients = ("alpha", "eps", "momentum")
    flags = ("centered",)
    elementwise = True

    def __init__(self, lr: Any = 1e-2, alpha: Any = 0.99, eps: Any = 1e-8, weight_decay: Any = 0.0,
                 momentum: Any = 0.0, centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(lr, weight_decay=weight_decay, maximize=maximize)
        self.alpha = hyper.hyper("alpha", alpha, hyper.unit)
        self.eps = hyper.hyper("eps", eps, _validate.nonnegative)
        self.momentum = hyper.hyper("momentum", momentum, _validate.nonnegative)
        self.centered = _validate.boolean("centered", centered)

    def _own_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum, "centered": self.centered}

    def _slots_for(self) -> tuple[str, ...]:
        slots = ["square_avg"]
        if isinstance(self.momentum, np.ndarray) or self.momentum > 0:
            slots.append("momentum_buffer")
        if self.centered:
            slots.append("grad_avg")
        return tuple(slots)
