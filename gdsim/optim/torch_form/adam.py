"""Adam and AdamW with AMSGrad -- PyTorch's ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.hyper import meet
from gdsim.optim.torch_form.base import TorchOptimizer

__all__ = ["adam", "Adam", "AdamW"]


def adam(w, g, slots, lr, t, *, beta1, beta2, eps, amsgrad):
    r"""With ``s = t + 1`` the step number (bias corrections in double precision)::

        m <- beta1*m + (1 - beta1)*g                  # slot "exp_avg"
        v <- beta2*v + (1 - beta2)*g^2                # slot "exp_avg_sq"
        vmax <- max(vmax, v); use vmax for v          # amsgrad (slot "max_exp_avg_sq")
        w <- w - lr/(1 - beta1^s) * m / (sqrt(v)/sqrt(1 - beta2^s) + eps)

    eps is added to sqrt of the bias-CORRECTED second moment; Keras adds its epsilon to
    sqrt(v) itself, so Keras epsilon = eps*sqrt(1 - beta2^s) makes step s equal.
    """
    bias_correction1 = 1 - hyper.power(beta1, t + 1)
    bias_correction2 = 1 - hyper.power(beta2, t + 1)
    m = slots["exp_avg"] + (g - slots["exp_avg"]) * meet(1 - beta1, w)
    v = slots["exp_avg_sq"] * meet(beta2, w) + g * g * meet(1 - beta2, w)
    new = {"exp_avg": m, "exp_avg_sq": v}
    if amsgrad:
        v = new["max_exp_avg_sq"] = np.maximum(slots["max_exp_avg_sq"], v)
    denom = np.sqrt(v) / meet(np.sqrt(bias_correction2), w) + meet(eps, w)
    return w - meet(lr / bias_correction1, w) * m / denom, new


class Adam(TorchOptimizer):
    r"""``torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False, *, maximize=False, decoupled_weight_decay=False)``; the update is :func:`adam`.

    ``weight_decay`` is coupled (``g + weight_decay*w``, so it passes through m and v and is
    rescaled by Adam); ``decoupled_weight_decay=True`` makes it AdamW's.
    """

    rule = adam
    coefficients = ("beta1", "beta2", "eps")
    flags = ("amsgrad",)
    elementwise = True

    def __init__(self, lr: Any = 1e-3, betas: tuple[Any, Any] = (0.9, 0.999), eps: Any = 1e-8,
                 weight_decay: Any = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(lr, weight_decay=weight_decay, maximize=maximize)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {_validate.show(betas)}")
        self.beta1 = hyper.hyper("betas[0]", betas[0], hyper.unit_open)
        self.beta2 = hyper.hyper("betas[1]", betas[1], hyper.unit_open)
        self.eps = hyper.hyper("eps", eps, _validate.nonnegative)
        self.amsgrad = _validate.boolean("amsgrad", amsgrad)
        self.decoupled_weight_decay = _validate.boolean("decoupled_weight_decay", decoupled_weight_decay)

    def _own_config(self) -> dict[str, Any]:
        config = {"betas": (self.beta1, self.beta2), "eps": self.eps, "amsgrad": self.amsgrad}
        if type(self) is Adam:
            config["decoupled_weight_decay"] = self.decoupled_weight_decay
        return config

    def _slots_for(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if self.amsgrad else ("exp_avg", "exp_avg_sq")


class AdamW(Adam):
    r"""``torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, *, maximize=False)``: :func:`adam` after the decoupled decay
    ``w <- w*(1 - lr*weight_decay)``. Keras ``Adam(weight_decay=...)`` decays the same way
    (its default is no decay); the two still differ in where epsilon goes.
    """

    def __init__(self, lr: Any = 1e-3, betas: tuple[Any, Any] = (0.9, 0.999), eps: Any = 1e-8,
                 weight_decay: Any = 1e-2, amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
