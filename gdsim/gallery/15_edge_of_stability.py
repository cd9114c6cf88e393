"""Edge of stability: full-batch GD sharpens until lambda_max = 2/eta, then hovers there.
======================================================================================

Cohen et al. (ICLR 2021), reproduced with gdsim's hand-written gradients: a tanh network
1-30-20-1 fitted to 20 points of the Chebyshev polynomial T_6 with the HALF mean squared error
(``gdsim.studies.edge_of_stability``). Top: the sharpness (top Hessian eigenvalue, Lanczos on
central-difference Hessian-vector products, every 20 steps) against the stability limit 2/eta
of gradient descent on a quadratic. Bottom: the training loss. At eta = 0.2 the sharpness
climbs to 2/eta = 10 and stays there while the loss keeps falling, with many steps that raise
it; at eta = 0.049 (2/eta = 40.8) the sharpness stays far below its limit and the loss falls
monotonically.

Run:  python -m gdsim.gallery.15_edge_of_stability [--quick] [--out DIR]  (or: gdsim figures --only edge_of_stability)
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
STEM = "15_edge_of_stability"


def compute(quick: bool = False) -> dict:
    """The gd and control runs (quick: 1,000 steps instead of 4,000)."""
    setting = dict(eos.SETTING, steps=1000) if quick else eos.SETTING
    runs = {name: eos.train_mlp(name, setting) for name in ("gd", "control")}
    return {"runs": runs, "summary": {name: eos.summarize(run) for name, run in runs.items()},
            "setting": setting}


def plot(d: dict):
    c = plots.COLORS
    colors = {"gd": c["vermillion"], "control": c["blue"]}
    with plots.style():
        fig, axes = plots.new_mosaic([["sharpness"], ["loss"]], sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
        top, bottom = axes["sharpness"], axes["loss"]
        for name, run in d["runs"].items():
            color = colors[name]
            rises = 100 * d["summary"][name]["rising_fraction"]
            ratio = np.asarray(run.sharpness) / run.threshold
            top.plot(run.steps, ratio, color=color, lw=2.4,
                     label=rf"GD, $\eta$ = {run.lr:g}  ($2/\eta$ = {run.threshold:.3g})")
            bottom.semilogy(np.arange(len(run.loss)), run.loss, color=color, lw=1.4,
                            label=rf"$\eta$ = {run.lr:g}: {rises:.0f}% of steps raise the loss")
        top.axhline(1.0, color=c["black"], lw=2, linestyle="--")
        top.annotate(r"stability limit of GD on a quadratic: $\lambda_{\max} = 2/\eta$", xy=(0.99, 1.0),
                     xycoords=("axes fraction", "data"), xytext=(0, -8), textcoords="offset points",
                     ha="right", va="top", fontsize=14)
        top.set_ylim(0, 1.35)
        plots.labels(top, "", r"sharpness $\lambda_{\max}$ / $(2/\eta)$",
                     r"GD sharpens until $\lambda_{\max} = 2/\eta$, then stays there")
        top.legend(loc="lower right")
        plots.labels(bottom, "step (full batch)", "training loss")
        bottom.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        bottom.yaxis.set_minor_formatter(ticker.NullFormatter())
        bottom.legend(loc="lower left")
        s = d["setting"]
        # in the empty band of the top panel, between the two curves
        top.text(0.02, 0.52, f"tanh 1-30-20-1, {s['points']} points of $T_{s['degree']}$ on [-1, 1]\n"
                 r"loss: half MSE  $L = \frac{1}{2n}\sum_i (f(x_i) - y_i)^2$", transform=top.transAxes,
                 ha="left", va="top", fontsize=14, linespacing=1.6)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
