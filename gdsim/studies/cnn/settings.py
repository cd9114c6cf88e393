"""The settings the CNN experiments share: the seed's recipe, the reduced setting, the spike rule.

A *spike* is :func:`gdsim.spikes.detect_spikes` on the per-epoch validation loss with
:data:`SPIKE_RULE` (a rise of more than 20 % above the running minimum that is back within
3 epochs). Spike counts from one run are themselves noisy, so the experiments count them over
several seeds (:data:`EXPERIMENT` ``seeds``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gdsim import spikes

__all__ = ["SEED", "EXPERIMENT", "QUICK", "SPIKE_RULE", "experiment_settings", "spike_summary",
           "short", "setting_line"]

#: The seed question's recipe (``gdsim reproduce cnn``).
SEED: dict[str, Any] = {"n": 8000, "size": 32, "epochs": 100, "batch_size": 32, "lr": 1e-4,
                        "difficulty": 0.5, "validation_fraction": 0.25}
#: The reduced but honest setting of the experiments (same network, optimizer, batch, lr,
#: split; smaller images and fewer of them, fewer epochs, several seeds).
EXPERIMENT: dict[str, Any] = {"n": 4000, "size": 16, "epochs": 30, "batch_size": 32,
                              "lr": 1e-4, "difficulty": 0.5, "validation_fraction": 0.25,
                              "seeds": 3}
#: Test-sized setting: the same experiments at toy sizes.
QUICK: dict[str, Any] = {"n": 320, "size": 8, "epochs": 4, "batch_size": 32, "lr": 1e-4,
                         "difficulty": 0.5, "validation_fraction": 0.25, "seeds": 1}
#: What counts as a spike (arguments of :func:`gdsim.spikes.spike_summary`).
SPIKE_RULE: dict[str, Any] = {"threshold": 0.2, "recovery": 3, "warmup": 1}


def experiment_settings(quick: bool, **overrides: Any) -> dict[str, Any]:
    """:data:`QUICK` (``quick``) or :data:`EXPERIMENT`, with ``overrides`` applied (a copy)."""
    s = dict(QUICK if quick else EXPERIMENT)
    s.update(overrides)
    return s


def spike_summary(values: Sequence[float]) -> dict[str, Any]:
    """:func:`gdsim.spikes.spike_summary` of a per-epoch curve under :data:`SPIKE_RULE`."""
    return spikes.spike_summary(np.asarray(values, dtype=np.float64), **SPIKE_RULE)


def short(value: float) -> str:
    """1e-4 rather than 0.0001 or 1e-04 (titles)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}" if abs(value) < 1e-2 else f"{value:g}"


def setting_line(s: dict[str, Any]) -> str:
    """One line naming an experiment's setting, for figure titles: what was reduced shows."""
    seeds = f" · {s['seeds']} seeds" if s.get("seeds", 1) > 1 else ""
    return (f"seed CNN · {s['n']} imgs {s['size']}x{s['size']}x3 · Adam lr {short(s['lr'])} · "
            f"batch {s['batch_size']} · {s['epochs']} epochs{seeds}")
