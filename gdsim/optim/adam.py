"""Adam with AMSGrad -- Keras ``Adam`` (``keras/src/optimizers/adam.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.pipeline import Optimizer

__all__ = ["adam", "Adam"]


def adam(w, g, slots, lr, t, *, beta_1, beta_2, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad):
    r"""With ``t + 1`` the step number and ``b1**(t+1)``, ``b2**(t+1)`` in the parameter dtype::

        m <- m + (g - m)*(1 - b1)                 # = b1*m + (1-b1)*g
        v <- v + (g*g - v)*(1 - b2)
        vhat <- max(vhat, v); use vhat for v      # amsgrad only (max of the UNcorrected v)
        alpha = lr * sqrt(1 - b2**(t+1)) / (1 - b1**(t+1))
        w <- w - m*alpha / (sqrt(v) + eps)
    """
    one, step = w.dtype.type(1), w.dtype.type(t + 1)
    alpha = lr * np.sqrt(one - hyper.power(beta_2, step)) / (one - hyper.power(beta_1, step))
    m = slots["m"] + (g - slots["m"]) * one_minus_beta_1
    v = slots["v"] + (np.square(g) - slots["v"]) * one_minus_beta_2
    new = {"m": m, "v": v}
    if amsgrad:
        v = new["vhat"] = np.maximum(slots["vhat"], v)
    return w - (m * alpha) / (np.sqrt(v) + epsilon), new


class Adam(Optimizer):
    r"""Adam -- Keras ``Adam``; the update is :func:`adam`.

    epsilon is Kingma & Ba's "epsilon hat", added to sqrt of the *uncorrected* v; this equals
    ``lr*mhat/(sqrt(vhat) + eps/sqrt(1-b2**t))``. PyTorch's ``torch.optim.Adam`` (here
    :class:`gdsim.optim.torch_form.Adam`) adds eps to ``sqrt(vhat)`` (the bias-corrected v),
    which differs when eps is not tiny against sqrt(v) (eps=0.1: tens of percent after a few
    steps); :func:`gdsim.optim.equivalent.adam_epsilon_hat` gives the epsilon that makes one
    step equal. On the first step ``|w1 - w0| = lr*|g|/(|g| + eps/sqrt(1-b2))`` ~ ``lr*sign(g)``.

    Args:
        learning_rate: > 0, schedule or runs array. beta_1, beta_2: in [0, 1).
        epsilon: > 0. amsgrad: AMSGrad variant (slot ``"vhat"``).
        weight_decay, clipnorm, clipvalue, global_clipnorm: as in Keras.
    """

    rule = adam
    # (1 - beta) is formed in double precision and then cast, as Keras's Python scalar is.
    coefficients = ("beta_1", "beta_2", "epsilon")
    complements = ("beta_1", "beta_2")
    flags = ("amsgrad",)
    elementwise = True

    def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
                 epsilon: Any = 1e-7, amsgrad: bool = False, *, weight_decay: Any = None,
                 clipnorm: Any = None, clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.beta_1 = hyper.hyper("beta_1", beta_1, hyper.unit_open)
        self.beta_2 = hyper.hyper("beta_2", beta_2, hyper.unit_open)
        self.epsilon = hyper.hyper("epsilon", epsilon, _validate.positive)
        self.amsgrad = _validate.boolean("amsgrad", amsgrad)

    def _own_config(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _slots_for(self) -> tuple[str, ...]:
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")
