"""Minibatch noise: smaller batches give noisier loss curves, and the gradient-noise variance falls as 1/B.
========================================================================================================

Left: SGD (lr = 5e-4, stable for every batch size here) on the seed regression xs = 1..20,
with Keras-style minibatches (reshuffled every epoch, last partial batch kept) of size 1, 4 and
20, eight seeded runs each. The full-data loss is recorded after every step and drawn against
epochs (an epoch is ceil(20/B) steps). B = 20 is full-batch gradient descent: one smooth curve.
Smaller batches take more, noisier steps per epoch.

Right: the variance of the minibatch gradient around the full gradient,
``E ||g_B - grad f||^2``, measured at a fixed point (the seed's initial weights) from many
sampled batches. With replacement (i.i.d. samples) it is exactly ``tr(S) / B`` (S: the
covariance of the per-sample gradients, divided by n): slope -1 on log-log axes. Without
replacement (what Keras does within an epoch) it carries the finite-population correction
``tr(S) / B * (n - B) / (n - 1)``, which reaches 0 at B = n (the full batch has no noise).
Both laws are drawn; the slope fit uses the with-replacement points.

Run:  python -m gdsim.gallery.07_minibatch [--quick] [--out DIR]  (or: gdsim figures --only minibatch)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

import math
from pathlib import Path

import numpy as np

from gdsim import figures, noise, optim, plots, problems, simulate
from gdsim.studies.xs_ys import regression
from gdsim.studies.xs_ys.reproduce import SEED_SGD_LOSSES

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "07_minibatch"
LR = 5e-4
BATCH_SIZES = (1, 4, 20)


def minibatch_variance(problem, w: np.ndarray, batch_sizes, draws: int, replace: bool,
                       seed: int) -> np.ndarray:
    """``mean ||g_B - grad f(w)||^2`` over ``draws`` sampled batches, for each batch size."""
    per_sample = problem.per_sample_grads(w)                # (n, d)
    full = per_sample.mean(axis=0)
    n = problem.n_samples
    rng = np.random.default_rng(seed)
    out = []
    for b in batch_sizes:
        if replace:
            idx = rng.integers(0, n, size=(draws, b))
        else:  # a uniformly random subset: the first b of a random permutation
            idx = np.argsort(rng.random((draws, n)), axis=1)[:, :b]
        g = per_sample[idx].mean(axis=1)                    # (draws, d)
        out.append(np.mean(np.sum((g - full) ** 2, axis=-1)))
    return np.array(out)


def compute(quick: bool = False) -> dict:
    # --- set-up: the seed regression and its initial weights
    problem = problems.LinearRegression.seed(20)
    w0 = np.array([regression.kernels_from_first_loss(SEED_SGD_LOSSES[0])[0], 0.0])
    epochs = 20 if quick else 60
    seeds = 4 if quick else 8

    # --- run: loss curves, one simulation per batch size (runs axis = seeds)
    curves = {}
    for b in BATCH_SIZES:
        per_epoch = math.ceil(problem.n_samples / b)
        run = simulate.run(problem, optim.SGD(LR), np.tile(w0, (seeds, 1)), epochs * per_epoch,
                           noise=noise.Minibatch(batch_size=b), seed=b)
        curves[b] = {"epoch": run.steps / per_epoch, "loss": run.loss}

    # --- measure: gradient-noise variance against batch size at w0
    draws = 4000 if quick else 40000
    b_with = np.array([1, 2, 4, 8, 16, 32, 64])
    b_without = np.array([1, 2, 4, 5, 8, 10, 16, 19])
    var_with = minibatch_variance(problem, w0, b_with, draws, replace=True, seed=1)
    var_without = minibatch_variance(problem, w0, b_without, draws, replace=False, seed=2)
    trace_s = float(np.trace(problem.gradient_noise_covariance(w0, 1, replace=True)))
    slope = float(np.polyfit(np.log(b_with), np.log(var_with), 1)[0])
    return {"curves": curves, "epochs": epochs, "b_with": b_with, "var_with": var_with,
            "b_without": b_without, "var_without": var_without, "trace_s": trace_s,
            "slope_with_replacement": slope, "n": problem.n_samples}


def plot(d: dict):
    c = plots.COLORS
    colors = {1: c["vermillion"], 4: c["blue"], 20: c["black"]}
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        for b, curve in d["curves"].items():
            for i, loss in enumerate(curve["loss"].T):
                left.semilogy(curve["epoch"], loss, color=colors[b], lw=1.0 if b < 20 else 2.5,
                              alpha=0.55 if b < 20 else 1.0,
                              label=f"batch size {b}" + (" (full batch)" if b == 20 else "")
                              if i == 0 else None)
        plots.labels(left, "epoch", "loss (MSE), full data",
                     f"smaller batches: more steps,\nmore noise (lr = {LR:g})")
        leg = left.legend(loc="upper right")
        for line in leg.get_lines():
            line.set_linewidth(3)
            line.set_alpha(1)

        n = d["n"]
        b_line = np.geomspace(1, 64, 100)
        right.loglog(b_line, d["trace_s"] / b_line, color=c["vermillion"], lw=2,
                     label="tr(S)/B")
        b_line2 = np.linspace(1, n - 1, 200)
        right.loglog(b_line2, d["trace_s"] / b_line2 * (n - b_line2) / (n - 1), color=c["blue"],
                     lw=2, ls="--", label="tr(S)/B·(n−B)/(n−1)")
        right.loglog(d["b_with"], d["var_with"], "o", ms=10, color=c["vermillion"],
                     label=f"with replacement: slope {d['slope_with_replacement']:.3f}")
        right.loglog(d["b_without"], d["var_without"], "s", ms=9, mfc="none", mew=2,
                     color=c["blue"], label="without (as Keras)")
        plots.labels(right, "batch size B", "noise variance E‖g_B − ∇f‖²",
                     "noise variance ∝ 1/B")
        right.set_ylim(1e2, None)
        right.legend(loc="lower left")
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
