"""Optimizers on classic surfaces: GD, momentum, Nesterov, Adam and RMSprop on an ill-conditioned bowl, Rosenbrock and Beale.
==========================================================================================================================

Each panel is a loss surface's contours (log-spaced levels, so both the steep walls and the flat
floor show) with the path of every optimizer from the same start; the legend gives where each
one ended. What to look for:

* ill-conditioned quadratic (condition number 20, rotated): GD at a learning rate near
  2/lambda_max zig-zags across the steep direction and crawls along the shallow one; momentum
  and Nesterov build speed along the valley; Adam and RMSprop rescale each coordinate.
* Rosenbrock: the learning rate is capped by the steep walls (curvature ~ 2000 at the start),
  so GD crawls along the curved floor; momentum covers it in the same number of steps.
* Beale: gradients vary by orders of magnitude between the plateau and the walls; Adam's
  per-coordinate normalisation keeps a steady pace.

All runs are exact-gradient (no noise), float64, Keras's update formulas.

Run:  python -m gdsim.gallery.04_surfaces [--quick] [--out DIR]  (or: gdsim figures --only surfaces)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, optim, plots, simulate, surfaces

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "04_surfaces"


def cases() -> list[dict]:
    """Surface, start, steps, plotting box and one optimizer per method (hand-tuned so each
    method is shown at a learning rate where it works: the comparison is of behaviour)."""
    return [
        {"title": "bowl, condition 20", "legend": "lower right",
         "surface": surfaces.get("quadratic", condition_number=20, angle=0.5),
         "x0": [-6.0, -1.5], "steps": 60, "box": ([-7.0, -5.0], [7.0, 4.0]),
         "optimizers": {"GD": optim.SGD(1.8), "momentum": optim.SGD(0.5, momentum=0.8),
                        "Nesterov": optim.SGD(0.5, momentum=0.8, nesterov=True),
                        "Adam": optim.Adam(0.3), "RMSprop": optim.RMSprop(0.3)}},
        {"title": "Rosenbrock", "legend": "upper right",
         "surface": surfaces.get("rosenbrock"),
         "x0": [-1.5, 2.0], "steps": 1500, "box": ([-2.0, -0.6], [2.0, 3.0]),
         "optimizers": {"GD": optim.SGD(1e-3), "momentum": optim.SGD(1e-3, momentum=0.9),
                        "Nesterov": optim.SGD(1e-3, momentum=0.9, nesterov=True),
                        "Adam": optim.Adam(0.05), "RMSprop": optim.RMSprop(0.01)}},
        {"title": "Beale", "legend": "lower right",
         "surface": surfaces.get("beale"),
         "x0": [0.8, 1.6], "steps": 1000, "box": ([-0.5, -1.0], [4.5, 2.2]),
         "optimizers": {"GD": optim.SGD(0.003), "momentum": optim.SGD(0.003, momentum=0.9),
                        "Nesterov": optim.SGD(0.003, momentum=0.9, nesterov=True),
                        "Adam": optim.Adam(0.05), "RMSprop": optim.RMSprop(0.01)}},
    ]


def compute(quick: bool = False) -> dict:
    panels = []
    for case in cases():
        steps = case["steps"] // 3 if quick else case["steps"]
        paths, finals, final_losses, losses = {}, {}, {}, {}
        for name, opt in case["optimizers"].items():
            run = simulate.run(case["surface"], opt, np.array(case["x0"]), steps)
            paths[name] = run.params
            losses[name] = run.loss
            finals[name] = run.final_params
            final_losses[name] = float(run.final_loss)
        panels.append({"title": case["title"], "legend": case["legend"], "surface": case["surface"], "box": case["box"],
                       "x0": case["x0"], "steps": steps, "paths": paths, "finals": finals,
                       "final_losses": final_losses, "losses": losses,
                       "minimum": case["surface"].global_minimum})
    return {"panels": panels}


def plot(d: dict):
    with plots.style():
        fig, axes = plots.new_figure(1, 3)
        for ax, panel in zip(axes, d["panels"]):
            lo, hi = panel["box"]
            plots.loss_contours(ax, panel["surface"], lo, hi, n_levels=12, resolution=200)
            for name, path in panel["paths"].items():
                style = plots.OPTIMIZER_STYLE[name]
                plots.trajectory(ax, path, f"{name} → {plots.point_label(panel['finals'][name], 2)}",
                                 color=style["color"], linestyle=style["linestyle"])
            ax.plot(*panel["minimum"], marker="*", ms=24, color=plots.COLORS["yellow"],
                    mec="black", zorder=6, ls="none")
            ax.plot(*panel["x0"], marker="s", ms=10, color="white", mec="black", zorder=6)
            plots.labels(ax, "x₁", "x₂", f"{panel['title']}\n{panel['steps']} steps")
            ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.14), fontsize=13, handlelength=1.5,
                      title=f"★ = {plots.point_label(panel['minimum'], 1)}; ended at:",
                      title_fontsize=13, alignment="left")
        fig.suptitle("GD zig-zags and crawls; momentum and Adam get there",
                     fontsize=17)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
