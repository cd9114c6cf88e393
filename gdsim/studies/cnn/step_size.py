"""Experiment 4: the step size. lr 1e-4 / 1e-3 / 1e-2 / 1e-1: overshoot spikes and divergence."""

from __future__ import annotations

from typing import Any, Sequence

from gdsim.studies.cnn.experiment import experiment_run, spike_row
from gdsim.studies.cnn.settings import experiment_settings, spike_summary

__all__ = ["step_size"]


def step_size(quick: bool = False, lrs: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
              **overrides: Any) -> dict[str, Any]:
    """Experiment 4: the seed's run at lr 1e-4, 1e-3, 1e-2 and 1e-1 (Adam, batch 32):
    overshoot spikes grow with the step; inf/NaN (divergence) is reported separately."""
    s = experiment_settings(quick, **overrides)
    rows, curves = {}, {}
    for lr in lrs:
        runs = [experiment_run(s, seed, lr=lr) for seed in range(s["seeds"])]
        label = f"lr {lr:g}"
        rows[label] = spike_row(runs)
        rows[label]["train_spikes_total"] = int(sum(spike_summary(r["history"]["loss"])["count"]
                                                    for r in runs))
        curves[label] = {"loss": runs[0]["history"]["loss"],
                         "val_loss": runs[0]["history"]["val_loss"],
                         "spike_epochs": runs[0]["spikes"]["epochs"], "lr": lr}
    return {"settings": s, "table": rows, "curves": curves}
