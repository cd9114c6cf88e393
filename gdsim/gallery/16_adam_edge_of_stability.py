"""Adam at the edge of stability: the preconditioned sharpness settles near 38/eta.
================================================================================

Cohen et al. (2022): Adam's step is ``eta * P^-1 * mhat`` with the diagonal preconditioner
``P = (sqrt(v) + eps) / sqrt(1 - b2^t)`` (Keras's formulas, ``gdsim.curvature.preconditioner``);
on a quadratic it is stable only while the *preconditioned* sharpness ``lambda_max(P^-1 H)`` stays
below ``(2 + 2 b1) / ((1 - b1) eta)`` = 38/eta at b1 = 0.9. Same network, data and half MSE as
figure 15, Keras Adam at eta = 0.01 (38/eta = 3800), full batch, the preconditioned sharpness
every 20 steps (top) and the training loss (bottom).

Run:  python -m gdsim.gallery.16_adam_edge_of_stability [--quick] [--out DIR]  (or: gdsim figures --only adam_edge_of_stability)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np
from matplotlib import ticker

from gdsim import figures, plots
from gdsim.studies import edge_of_stability as eos

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "16_adam_edge_of_stability"


def compute(quick: bool = False) -> dict:
    """The adam run (quick: 1,000 steps instead of 4,000)."""
    setting = dict(eos.SETTING, steps=1000) if quick else eos.SETTING
    run = eos.train_mlp("adam", setting)
    return {"run": run, "summary": eos.summarize(run), "setting": setting}


def plot(d: dict):
    c = plots.COLORS
    run, summary, s = d["run"], d["summary"], d["setting"]
    color = plots.OPTIMIZER_STYLE["Adam"]["color"]
    with plots.style():
        fig, axes = plots.new_mosaic([["sharpness"], ["loss"]], sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
        top, bottom = axes["sharpness"], axes["loss"]
        top.plot(run.steps, np.asarray(run.sharpness) / run.threshold, color=color, lw=2.4,
                 label=rf"Adam, $\eta$ = {run.lr:g}: second-half mean {summary['second_half_mean']:.2f}")
        top.axhline(1.0, color=c["black"], lw=2, linestyle="--",
                    label=r"Adam's limit on a quadratic: $\lambda_{\max}(P^{-1}H) = 38/\eta$")
        top.set_ylim(0, 1.35)
        plots.labels(top, "", r"$\lambda_{\max}(P^{-1}H)$ / $(38/\eta)$",
                     r"Adam's preconditioned sharpness rises to $38/\eta$ and hovers there")
        top.legend(loc="lower right")
        top.text(0.09, 0.47, f"tanh 1-30-20-1, {s['points']} points of $T_{s['degree']}$ on [-1, 1]\n"
                 r"loss: half MSE  $L = \frac{1}{2n}\sum_i (f(x_i) - y_i)^2$" "\n"
                 r"$P = (\sqrt{v} + \epsilon)/\sqrt{1 - \beta_2^t}$, $\beta_1 = 0.9$",
                 transform=top.transAxes, ha="left", va="top", fontsize=14, linespacing=1.6)
        rises = 100 * summary["rising_fraction"]
        bottom.semilogy(np.arange(len(run.loss)), run.loss, color=color, lw=1.4,
                        label=f"{rises:.0f}% of steps raise the loss")
        plots.labels(bottom, "step (full batch)", "training loss")
        bottom.yaxis.set_major_formatter(ticker.LogFormatterMathtext())
        bottom.legend(loc="upper right")
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
