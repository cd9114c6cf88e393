"""Step size in the seed CNN: lr 1e-4, 1e-3, 1e-2, 1e-1 — overshoot spikes, then divergence.

The seed's answer: "even the exact gradient direction can raise the loss by overshooting,
especially at a large learning rate". Set-up: the reduced seed run
(``gdsim.cnn_experiments.EXPERIMENT``: 4000 images 16x16x3, Adam, batch 32, 30 epochs, three
seeds per learning rate); only the learning rate changes.

Left: the training loss (as Keras prints it) of the seed-0 run per learning rate; right: the
validation loss (log scale), spikes circled (``gdsim.spikes``: > 20 % above the running
minimum, back within 3 epochs); inf/NaN epochs, if any, are drawn on a band at the top and
counted as divergence, not as spikes.

Run:  python -m gdsim.gallery.13_step_size_cnn [--quick] [--out DIR]  (or: gdsim figures --only step_size_cnn)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdsim import cnn_experiments, figures, plots

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "13_step_size_cnn"


def compute(quick: bool = False) -> dict:
    return cnn_experiments.step_size(quick=quick)


def plot(d: dict):
    c = plots.COLORS
    colors = [c["black"], c["blue"], c["orange"], c["vermillion"]]
    s = d["settings"]
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        finite_max = 0.0
        for color, (label, curve) in zip(colors, d["curves"].items()):
            for ax, key in ((left, "loss"), (right, "val_loss")):
                v = np.asarray(curve[key], dtype=float)
                finite_max = max(finite_max, np.nanmax(np.where(np.isfinite(v), v, np.nan))
                                 if np.isfinite(v).any() else 0.0)
                epochs = np.arange(1, len(v) + 1)
                row = d["table"][label]
                diverged = sum(x is not None for x in row["diverged_at"])
                lr = cnn_experiments._short(curve["lr"])
                text = (f"lr {lr}: {row['spikes_total']} val spikes"
                        + (f", {diverged} diverged" if diverged else ""))
                ax.semilogy(epochs, np.where(np.isfinite(v), v, np.nan), color=color, lw=2,
                            label=text)
                bad = ~np.isfinite(v)
                if bad.any():
                    ax.plot(epochs[bad], np.full(bad.sum(), 1.0), "x", ms=10, mew=2, color=color,
                            transform=ax.get_xaxis_transform())
                if key == "val_loss" and curve["spike_epochs"]:
                    peaks = np.asarray(curve["spike_epochs"])
                    ax.plot(peaks, v[peaks - 1], "o", ms=11, mfc="none", mew=2.2, color=color)
        plots.labels(left, "epoch", "training loss (Keras 'loss')", "training loss")
        plots.labels(right, "epoch", "validation loss", "validation loss")
        left.legend(loc="upper right", title=f"over {s['seeds']} seeds (seed 0 drawn)")
        fig.suptitle(cnn_experiments.setting_line(s).replace(f"lr {cnn_experiments._short(s['lr'])}",
                                                              "lr varied"),
                     fontsize=15)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
