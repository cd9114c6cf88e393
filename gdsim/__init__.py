"""gdsim: a pure-NumPy, autodiff-free optimizer simulator for teaching.

Everything here is written by hand in NumPy and cross-checked against Keras 3.
``import gdsim`` loads nothing heavy: each submodule is imported the first time it is used,
so ``import gdsim; gdsim.optim.Adam(1e-3)`` works and matplotlib (``gdsim.plots``), hypothesis
(``gdsim.testing``) or Keras (``gdsim.keras_bridge``) load only when asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: The public submodules (each reachable as ``gdsim.<name>`` without an import of its own).
__all__ = ["optim", "schedules", "surfaces", "noise", "problems", "simulate", "analysis",
           "datasets", "spikes", "nn", "plots", "figures", "testing", "keras_bridge", "cli"]


def __getattr__(name: str) -> ModuleType:
    """Import the submodule ``gdsim.<name>`` on first access (PEP 562)."""
    if not name.startswith("_"):
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule exists but needs something missing: say that
        else:
            globals()[name] = module
            return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
