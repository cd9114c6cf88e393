"""PyTorch's forms of the same optimizers: PyTorch's names, arguments, defaults and formulas.

Same names, different numbers. ``gdsim.optim.Adam`` is Keras's Adam; ``gdsim.optim.torch_form.Adam``
is ``torch.optim.Adam``. Both follow gdsim's functional contract (``state = opt.init(params)``,
``params, state = opt.step(params, grads, state)``), take arrays over the runs axes, and save
their state to the same ``.npz`` files (with PyTorch's slot names: ``exp_avg``, ``exp_avg_sq``,
``momentum_buffer``, ``square_avg``, ``grad_avg``, ``sum``)::

    from gdsim.optim import torch_form
    opt = torch_form.SGD(lr=0.1, momentum=0.9, dampening=0, nesterov=False, weight_decay=0)
    opt = torch_form.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)

``torch_form.lr_scheduler`` holds PyTorch's schedulers (``StepLR``, ``ExponentialLR``,
``CosineAnnealingLR``, ``LinearLR``, ``OneCycleLR``) as gdsim schedules.
:mod:`gdsim.optim.equivalent` converts between the two forms where an exact
reparametrisation exists. Each rule is one function next to its math, as for the Keras forms.

Cross-checked against ``torch.optim`` itself (tests/torch/, when torch is installed) and
against a NumPy transcription of PyTorch's documented algorithms (always).
"""

from __future__ import annotations

import importlib
from typing import Any

from gdsim.optim.torch_form.adagrad import Adagrad
from gdsim.optim.torch_form.adam import Adam, AdamW
from gdsim.optim.torch_form.base import TorchOptimizer
from gdsim.optim.torch_form.rmsprop import RMSprop
from gdsim.optim.torch_form.sgd import SGD

__all__ = ["TorchOptimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]


def __getattr__(name: str) -> Any:
    # lr_scheduler builds on gdsim.schedules; loading it on first use keeps `import gdsim.optim`
    # to NumPy and gdsim's small helpers.
    if name == "lr_scheduler":
        return importlib.import_module("gdsim.optim.torch_form.lr_scheduler")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
