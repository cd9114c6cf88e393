"""SGD with momentum, dampening and Nesterov -- PyTorch's ``torch.optim.SGD``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.hyper import meet
from gdsim.optim.torch_form.base import TorchOptimizer, check_all

__all__ = ["sgd", "SGD"]


def sgd(w, g, slots, lr, t, *, momentum, dampening, nesterov):
    r"""With buffer ``b`` (slot ``"momentum_buffer"``, only when momentum != 0)::

        b <- g                                   on the first step (no dampening!)
        b <- momentum*b + (1 - dampening)*g      after it
        g <- g + momentum*b  (nesterov)   or   g <- b
        w <- w - lr*g

    Keras's velocity is ``v = -lr*b`` only while lr is constant: here a new lr multiplies the
    whole buffer, past gradients included; Keras's ``v`` keeps the rates it was built with.
    """
    if "momentum_buffer" in slots:
        if t == 0:
            b = g.copy()
        else:
            b = slots["momentum_buffer"] * meet(momentum, w) + g * meet(1 - dampening, w)
        g = g + b * meet(momentum, w) if nesterov else b
        slots = {"momentum_buffer": b}
    return w - g * meet(lr, w), slots


class SGD(TorchOptimizer):
    r"""``torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
    nesterov=False, *, maximize=False)`` as a gdsim optimizer; the update is :func:`sgd`.

    ``weight_decay`` is an L2 term added to the gradient (``g + weight_decay*w``) before the
    momentum buffer sees it. Nesterov needs momentum > 0 and dampening 0, as in PyTorch.
    """

    rule = sgd
    coefficients = ("momentum", "dampening")
    flags = ("nesterov",)
    elementwise = True

    def __init__(self, lr: Any = 1e-3, momentum: Any = 0.0, dampening: Any = 0.0,
                 weight_decay: Any = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(lr, weight_decay=weight_decay, maximize=maximize)
        self.momentum = hyper.hyper("momentum", momentum, _validate.nonnegative)
        self.dampening = hyper.hyper("dampening", dampening, hyper.unit)
        self.nesterov = _validate.boolean("nesterov", nesterov)
        if self.nesterov:
            check_all("momentum", self.momentum, np.asarray(self.momentum) > 0, "> 0 with nesterov=True")
            check_all("dampening", self.dampening, np.asarray(self.dampening) == 0, "0 with nesterov=True")
        if isinstance(self.momentum, np.ndarray):  # a sweep keeps a buffer for every run
            check_all("dampening", self.dampening, (np.asarray(self.dampening) == 0) | np.all(self.momentum > 0),
                      "0 when an array of momenta contains 0 (PyTorch ignores dampening without momentum)")

    def _own_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "dampening": self.dampening, "nesterov": self.nesterov}

    def _slots_for(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if isinstance(self.momentum, np.ndarray) or self.momentum != 0 else ()
