"""What every experiment shares: one seeded run of the reduced setting with the two extra scores
per epoch, and the spike statistics of one setting over its seeds."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.scores import batch_statistics_loss, per_sample_loss
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.cnn.settings import spike_summary

__all__ = ["standard_extra", "experiment_run", "spike_row"]


def standard_extra(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
                   ) -> Callable[[Any], dict[str, float]]:
    """The per-epoch measurements every experiment run records besides Keras's history:
    ``val_loss_batch_stats`` (:func:`batch_statistics_loss` on the validation set) and
    ``train_loss_inference`` (the training set scored like the validation set: end-of-epoch
    weights, inference mode) — the two halves of the train/val mismatch."""
    def extra(model) -> dict[str, float]:
        return {"val_loss_batch_stats": batch_statistics_loss(model, x_val, y_val),
                "train_loss_inference": float(per_sample_loss(model, x, y).mean())}
    return extra


_RUNS: dict[tuple, dict] = {}


def experiment_run(s: dict[str, Any], seed: int, *, batch_size: int | None = None,
                   lr: float | None = None, dropout: bool = True,
                   bn_momentum: float = 0.99) -> dict[str, Any]:
    """One seeded run of the experiment setting ``s`` (memoised in-process, so experiments
    that share the baseline — batch 32, lr 1e-4, dropout, BN momentum 0.99 — train it once).
    Seed ``seed`` fixes the data set, the initial weights, the dropout masks and the order."""
    batch_size = s["batch_size"] if batch_size is None else batch_size
    lr = s["lr"] if lr is None else lr
    key = (s["n"], s["size"], s["epochs"], s["difficulty"], s["validation_fraction"], seed,
           batch_size, lr, dropout, bn_momentum)
    if key not in _RUNS:
        data = make_data(s["n"], s["size"], seed, s["difficulty"], s["validation_fraction"])
        _RUNS[key] = train_seed_run(
            n=s["n"], epochs=s["epochs"], batch_size=batch_size, lr=lr, size=s["size"],
            difficulty=s["difficulty"], seed=seed, verbose=0, dropout=dropout,
            bn_momentum=bn_momentum, validation_fraction=s["validation_fraction"], data=data,
            extra=standard_extra(*data[0], *data[1]), return_model=True)
    return _RUNS[key]


def spike_row(runs: list[dict[str, Any]], curve: str = "val_loss") -> dict[str, Any]:
    """Spike statistics of one setting over its seeded runs (for the README table)."""
    summaries = []
    for r in runs:
        values = r["history"][curve] if curve in r["history"] else r["extra"][curve]
        summaries.append(spike_summary(values))
    heights = [x for s in summaries for x in ([s["max_height"]] if s["count"] else [])]
    finals = [r["final"]["val_accuracy"] for r in runs]
    return {"runs": len(runs), "curve": curve,
            "spikes": [s["count"] for s in summaries],
            "spikes_total": int(sum(s["count"] for s in summaries)),
            "spikes_per_run": float(np.mean([s["count"] for s in summaries])),
            "max_height": float(max(heights)) if heights else 0.0,
            "diverged_at": [s["diverged_at"] for s in summaries],
            "final_val_accuracy": float(np.mean(finals)),
            "seconds_per_run": float(np.mean([r["seconds"] for r in runs]))}
