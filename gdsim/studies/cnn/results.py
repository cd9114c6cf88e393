"""The experiments' results as a file and a table: ``figures/cnn_results.json`` and its
markdown spike table."""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from gdsim import _io, numerics
from gdsim.studies.cnn.batchnorm import batchnorm_dropout, batchnorm_seed_setting
from gdsim.studies.cnn.minibatch_noise import minibatch_noise
from gdsim.studies.cnn.settings import EXPERIMENT, SEED, SPIKE_RULE
from gdsim.studies.cnn.step_size import step_size
from gdsim.studies.cnn.validation_size import validation_size

__all__ = ["EXPERIMENTS", "spike_table", "save_results", "results_payload"]


#: Experiment name (its key in ``figures/cnn_results.json``) -> the function that runs it.
EXPERIMENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "minibatch noise": minibatch_noise, "validation sample size": validation_size,
    "BatchNorm / dropout": batchnorm_dropout, "BatchNorm, seed setting": batchnorm_seed_setting,
    "step size": step_size}


def spike_table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table of the spike counts: one row per (experiment, setting)."""
    lines = ["| experiment | setting | curve | runs | spikes (per run) | max height | "
             "diverged runs | final val acc |",
             "|---|---|---|---|---|---|---|---|"]
    for experiment, result in results.items():
        for setting, row in result["table"].items():
            diverged = sum(d is not None for d in row.get("diverged_at", []))
            acc = row.get("final_val_accuracy")
            lines.append(f"| {experiment} | {setting} | {row.get('curve', 'val_loss')} | "
                         f"{row['runs']} | {row['spikes_total']} ({row['spikes_per_run']:.2f}) | "
                         f"{row['max_height']:.2f} | "
                         f"{diverged if 'diverged_at' in row else '-'} | "
                         f"{'-' if acc is None else f'{acc:.3f}'} |")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if k != "model"}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return _io.json_value(value)


def save_results(path: str | os.PathLike, results: dict[str, Any]) -> None:
    """Write results atomically as strict JSON (inf/NaN as ``null``, models dropped)."""
    _io.save_json(path, _jsonable(results))


def results_payload(results: dict[str, dict[str, Any]],
                    full_run: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``figures/cnn_results.json`` holds: the spike rule, each experiment's settings
    and table (plus the gradient-noise fit and validation spreads), the markdown table, and
    the seed-setting run's summary (time, final metrics, spikes) if given."""
    payload: dict[str, Any] = {"spike_rule": SPIKE_RULE, "experiment_setting": EXPERIMENT,
                               "seed_setting": SEED, "experiments": {}}
    for name, r in results.items():
        entry = {"settings": r["settings"], "table": r["table"]}
        if "gradient_noise" in r:
            entry["gradient_noise"] = r["gradient_noise"]
        if "spread_mean" in r:
            entry["spread_mean"] = r["spread_mean"]
            entry["spread_analytic_mean"] = {k: float(np.mean(v))
                                             for k, v in r["spread_analytic"].items()}
        if "experiment_seconds" in r:
            entry["seconds"] = r["experiment_seconds"]
        payload["experiments"][name] = entry
    payload["markdown_table"] = spike_table(results)
    payload["numerics"] = numerics.record()
    if full_run is not None:
        payload["full_run"] = {k: full_run[k] for k in ("settings", "seconds", "images_per_second",
                                                        "final", "spikes", "train_spikes")
                               if k in full_run}
    return _jsonable(payload)
