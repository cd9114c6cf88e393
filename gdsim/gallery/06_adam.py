"""Why Adam works on the seed problem: it gives the kernel and the bias their own step sizes, so the steep kernel direction cannot blow up.
========================================================================================================================================

The loss of ``Dense(1)`` on xs = 1..20 is a long narrow valley in the (kernel, bias) plane: the
kernel multiplies inputs up to 20, so the loss is ~ 140x more curved along it than along the
bias (Hessian ``2*[[mean x^2, mean x], [mean x, 1]]``, eigenvalues 288.5 and 0.46). SGD uses one
learning rate for both, and it must be below ``2/288.5 = 0.0069`` for the steep direction;
Keras's default 0.01 is not, and the iterate flies out along the kernel axis (the seed's
exploding loss). Adam divides each parameter's step by the root of its own running mean of
squared gradients (Keras ``Adam``)::

    m <- b1*m + (1-b1)*g ;  v <- b2*v + (1-b2)*g^2
    w <- w - lr_eff * m,   lr_eff = lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)

so the kernel, whose gradients are ~ 14x larger, gets a ~ 14x smaller effective learning rate
(left), and every step moves each parameter by at most about ``lr`` (right): no blow-up, at
the price of crawling when the start is far away.

Run:  python -m gdsim.gallery.06_adam [--quick] [--out DIR]  (or: gdsim figures --only adam)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, optim, plots, problems, simulate
from gdsim.studies.xs_ys import regression
from gdsim.studies.xs_ys.reproduce import SEED_SGD_LOSSES

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "06_adam"


def adam_effective_lr(problem, w0: np.ndarray, adam: optim.Adam, steps: int) -> dict:
    """Run Adam step by step and record, per parameter, the effective learning rate that
    multiplies the momentum ``m`` (Keras's formula, read from the optimizer's state)."""
    w, state = w0.copy(), adam.init(w0)
    path, eff = [w0.copy()], []
    for t in range(steps):
        g = problem.grad(w)
        w, state = adam.step(w, g, state)
        alpha = adam.learning_rate * np.sqrt(1 - adam.beta_2 ** (t + 1)) / (1 - adam.beta_1 ** (t + 1))
        eff.append(alpha / (np.sqrt(state.slots["v"][0]) + adam.epsilon))
        path.append(w.copy())
    return {"path": np.array(path), "effective_lr": np.array(eff)}


def compute(quick: bool = False) -> dict:
    # --- set-up: the seed regression and the seed's initial weights
    problem = problems.LinearRegression.seed(20)
    w0 = np.array([regression.kernels_from_first_loss(SEED_SGD_LOSSES[0])[0], 0.0])
    eigenvalues = np.linalg.eigvalsh(problem.hessian(w0))
    steps = 800 if quick else 4000

    # --- run: Adam (step by step, to read its state), SGD at 1e-4 and at Keras's 0.01
    adam = adam_effective_lr(problem, w0, optim.Adam(0.001), steps)
    small = simulate.run(problem, optim.SGD(1e-4), w0, steps)
    big = simulate.run(problem, optim.SGD(0.01), w0, 6)
    return {"w0": w0, "minimizer": problem.minimizer, "eigenvalues": eigenvalues,
            "critical_lr": 2 / eigenvalues[-1], "steps": np.arange(1, steps + 1),
            "adam_path": adam["path"], "adam_effective_lr": adam["effective_lr"],
            "adam_final_loss": float(problem.value(adam["path"][-1])),
            "sgd_small_path": small.params, "sgd_small_final_loss": float(small.final_loss),
            "sgd_big_path": big.params, "sgd_big_loss": big.loss, "problem": problem}


def plot(d: dict):
    c = plots.COLORS
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        # Left: effective learning rate per parameter.
        s = d["steps"]
        left.loglog(s, d["adam_effective_lr"][:, 0], color=c["vermillion"], label="Adam: kernel")
        left.loglog(s, d["adam_effective_lr"][:, 1], color=c["vermillion"], ls="--",
                    label="Adam: bias")
        left.axhline(0.01, color=c["black"], lw=2, label="SGD lr=0.01 (both)")
        left.axhline(1e-4, color=c["blue"], lw=2, label="SGD lr=1e-4 (both)")
        left.axhline(d["critical_lr"], color=c["grey"], ls=":", lw=2)
        left.text(s[0], d["critical_lr"] * 0.6, f"2/λmax = {d['critical_lr']:.4f}: SGD's limit",
                  color=c["grey"], fontsize=13, va="top")
        plots.labels(left, "step (= epoch)", "effective learning rate",
                     "Adam: a smaller step size\nfor the steep kernel")
        left.legend(loc="upper right", bbox_to_anchor=(1.0, 0.8))

        # Right: paths over the loss contours in the (kernel, bias) plane.
        lo, hi = np.array([-1.6, -1.6]), np.array([1.1, 1.6])
        plots.loss_contours(right, d["problem"], lo, hi, n_levels=14, resolution=250)
        plots.trajectory(right, d["sgd_big_path"], "SGD lr=0.01: flies off", color=c["black"])
        plots.trajectory(right, d["sgd_small_path"],
                         f"SGD lr=1e-4: loss {d['sgd_small_final_loss']:.2g}", color=c["blue"])
        plots.trajectory(right, d["adam_path"], f"Adam lr=1e-3: loss {d['adam_final_loss']:.2g}",
                         color=c["vermillion"])
        right.plot(*d["minimizer"], marker="*", ms=24, color=c["yellow"], mec="black", zorder=7,
                   ls="none")
        right.plot(*d["w0"], marker="s", ms=10, color="white", mec="black", zorder=7)
        plots.labels(right, "kernel w", "bias b",
                     f"each Adam step moves every\nparameter by ≈ lr ({d['steps'][-1]} steps)")
        right.legend(loc="lower left", fontsize=13, frameon=True, framealpha=0.9, edgecolor="none")
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
