"""A small Keras-like network stack with hand-written backward passes.

The names a Keras user reaches for are importable from here::

    from gdsim.nn import Sequential, Dense, Conv2D, MaxPooling2D, BatchNormalization

(each is defined in ``gdsim.nn.model`` or ``gdsim.nn.layers`` and imported on first use, so
``import gdsim.nn`` stays light). Losses, metrics, callbacks and initializers are the
submodules ``gdsim.nn.losses``, ``.metrics``, ``.callbacks``, ``.initializers``.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_EXPORTS = {
    "Sequential": "gdsim.nn.model", "DivergenceWarning": "gdsim.nn.model",
    **{name: "gdsim.nn.layers" for name in (
        "Layer", "Dense", "Activation", "ReLU", "Flatten", "Dropout", "Conv2D", "MaxPooling2D",
        "BatchNormalization")},
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
