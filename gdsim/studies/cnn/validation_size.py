"""Experiment 2: the validation sample. The same checkpoints scored on 200 / 2000 / 20000
validation images: does a bigger validation set spike less?"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from gdsim.studies.cnn.data import real_fake_images
from gdsim.studies.cnn.scores import per_sample_loss
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.cnn.settings import experiment_settings, spike_summary

__all__ = ["validation_size"]


def validation_size(quick: bool = False, sizes: Sequence[int] | None = None,
                    universe: int | None = None, resamples: int = 400,
                    **overrides: Any) -> dict[str, Any]:
    """Experiment 2: the checkpoints of one run (seed 0, the experiment setting) scored after
    every epoch on fresh validation images from the same generator with another seed
    (``real_fake_images(universe, seed=10_000)``). For each size m: the validation-loss curve
    on the first m of them (and its spikes), and the spread of a size-m validation loss —
    the std over ``resamples`` validation sets of m images drawn from the pool, at every
    checkpoint — next to ``sd(l_i)/sqrt(m)``."""
    s = experiment_settings(quick, **overrides)
    sizes = list(sizes or ((20, 200, 2000) if quick else (200, 2000, 20000)))
    universe = universe or (4000 if quick else 40000)
    if max(sizes) > universe:
        raise ValueError(f"universe must be at least max(sizes) = {max(sizes)}, got {universe}")
    x_pool, y_pool = real_fake_images(n=universe, size=s["size"], channels=3, seed=10_000,
                                      difficulty=s["difficulty"])
    pool_losses: list[np.ndarray] = []

    def extra(model) -> dict[str, float]:
        pool_losses.append(per_sample_loss(model, x_pool, y_pool).astype(np.float32))
        return {}

    run = train_seed_run(n=s["n"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                         size=s["size"], difficulty=s["difficulty"], seed=0, verbose=0,
                         validation_fraction=s["validation_fraction"], extra=extra)
    losses = np.stack(pool_losses).astype(np.float64)            # (epochs, universe)
    rng = np.random.default_rng(np.random.SeedSequence(7))
    curves, spread, analytic, table = {}, {}, {}, {}
    for m in sizes:
        curve = losses[:, :m].mean(axis=1)
        key = str(m)  # string keys: the dict survives a JSON round trip unchanged
        curves[key] = curve.tolist()
        idx = rng.integers(0, universe, size=(resamples, m))
        # std across resampled validation sets, one value per checkpoint (epoch)
        per_epoch = np.array([losses[t][idx].mean(axis=1).std(ddof=1) for t in range(len(losses))])
        spread[key] = per_epoch.tolist()
        analytic[key] = (losses.std(axis=1, ddof=1) / math.sqrt(m)).tolist()
        summary = spike_summary(curve)
        table[f"val {m}"] = {"runs": 1, "spikes_total": summary["count"],
                             "spikes_per_run": float(summary["count"]),
                             "max_height": summary["max_height"],
                             "spread_mean": float(per_epoch.mean()),
                             "final_val_loss": float(curve[-1])}
    return {"settings": {**s, "universe": universe, "resamples": resamples, "pool_seed": 10_000},
            "sizes": sizes, "history": run["history"], "curves": curves,
            "pool_curve": losses.mean(axis=1).tolist(), "spread": spread,
            "spread_analytic": analytic, "table": table,
            "spread_mean": {str(m): float(np.mean(spread[str(m)])) for m in sizes},
            "seconds": run["seconds"]}
