"""Experiment 1: minibatch noise. Spikes for batch 8 / 32 / 128 / full, and the gradient noise
``E||g_B - g||^2`` against B at a fixed point (slope -1 on log-log axes)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import blas
from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.experiment import experiment_run, spike_row
from gdsim.studies.cnn.settings import experiment_settings

__all__ = ["gradient_noise", "minibatch_noise"]


def _batch_gradient(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean loss over ``x`` in inference mode (BN moving statistics, no
    dropout), so a batch gradient is exactly the mean of its per-sample gradients: every
    weight array's dL/dw, flattened into one float64 vector."""
    _, grads = model.gradient(x, y, training=False)
    return np.concatenate([g.ravel() for g in grads]).astype(np.float64)


def gradient_noise(model, x: np.ndarray, y: np.ndarray, batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
                   draws: int = 64, seed: int = 0) -> dict[str, Any]:
    """The minibatch gradient's variance around the full gradient at the model's weights.

    ``g = (1/N) sum_i grad l_i`` over all of ``x`` (N samples); for each B, ``draws`` batches
    of B indices drawn i.i.d. (with replacement), ``g_B`` their gradient, and
    ``var(B) = mean ||g_B - g||^2``, whose expectation is ``tr(Sigma)/B`` (Sigma: the
    covariance of the per-sample gradients): slope -1 on log-log axes. Gradients are taken in
    inference mode (BatchNorm moving statistics, dropout off): with batch statistics a batch
    gradient is not a mean of independent per-sample terms. Returns batch sizes, variances,
    the fitted log-log slope, ``tr(Sigma)`` (the slope -1 fit) and ``||g||^2`` (the signal).
    """
    draws = _validate.integer("draws", draws, minimum=2)
    rng = np.random.default_rng(np.random.SeedSequence(_validate.integer("seed", seed, minimum=0)))
    with blas.blas_threads(1):
        full = np.zeros(0)
        chunk = 500
        for start in range(0, len(x), chunk):
            g = _batch_gradient(model, x[start:start + chunk], y[start:start + chunk])
            w = len(x[start:start + chunk]) / len(x)
            full = g * w if full.size == 0 else full + g * w
        variances = []
        for b in batch_sizes:
            idx = rng.integers(0, len(x), size=(draws, int(b)))
            sq = [float(np.sum((_batch_gradient(model, x[i], y[i]) - full) ** 2)) for i in idx]
            variances.append(float(np.mean(sq)))
    b = np.asarray(batch_sizes, dtype=np.float64)
    v = np.asarray(variances)
    slope, intercept = np.polyfit(np.log(b), np.log(v), 1)
    return {"batch_sizes": [int(k) for k in batch_sizes], "variance": variances,
            "slope": float(slope), "intercept": float(intercept),
            # tr(Sigma) from all B at once (geometric mean of B*var(B), the slope -1 fit):
            # the B = 1 draws alone are dominated by a few heavy-tailed per-sample gradients
            "trace_sigma": float(np.exp(np.mean(np.log(b * v)))),
            "full_gradient_norm2": float(np.sum(full ** 2)), "draws": draws,
            "n": int(len(x)), "mode": "inference (BN moving statistics, dropout off)"}


def minibatch_noise(quick: bool = False, batch_sizes: Sequence[int | str] = (8, 32, 128, "full"),
                    **overrides: Any) -> dict[str, Any]:
    """Experiment 1: the same run with batch sizes 8, 32, 128 and the full training set
    (one step per epoch), over ``seeds`` seeds; then the gradient-noise law at a fixed point
    (the seed-0 batch-32 run's final weights)."""
    s = experiment_settings(quick, **overrides)
    rows, curves = {}, {}
    for b in batch_sizes:
        runs = []
        for seed in range(s["seeds"]):
            n_train = int(math.floor(s["n"] * (1 - s["validation_fraction"])))
            size_b = n_train if b == "full" else int(b)
            runs.append(experiment_run(s, seed, batch_size=size_b))
        label = f"batch {b}" if b != "full" else f"full batch ({size_b})"
        rows[label] = spike_row(runs)
        curves[label] = {"loss": runs[0]["history"]["loss"], "val_loss": runs[0]["history"]["val_loss"],
                         "spike_epochs": runs[0]["spikes"]["epochs"], "batch_size": size_b}
    base = experiment_run(s, 0)
    (x, y), _ = make_data(s["n"], s["size"], 0, s["difficulty"], s["validation_fraction"])
    noise = gradient_noise(base["model"], x, y,
                           batch_sizes=(1, 2, 4, 8, 16, 32) if quick else (1, 2, 4, 8, 16, 32, 64, 128),
                           draws=48 if quick else 96, seed=1)
    return {"settings": s, "table": rows, "curves": curves, "gradient_noise": noise}
