"""Step size in the seed CNN: lr 1e-4 to 1e-1 — larger steps overshoot, more validation spikes; none diverged.
===========================================================================================================

The seed's answer: "even the exact gradient direction can raise the loss by overshooting,
especially at a large learning rate". Set-up: the reduced seed run
(``gdsim.studies.cnn.settings.EXPERIMENT``: 4000 images 16x16x3, Adam, batch 32, 30 epochs, three
seeds per learning rate); only the learning rate changes.

Left: the training loss (as Keras prints it) of the seed-0 run per learning rate; right: the
validation loss (log scale), spikes circled (``gdsim.spikes``: > 20 % above the running
minimum, back within 3 epochs), with each rate's spike count over all its runs in the legend.
inf/NaN epochs, if any, are drawn as crosses on the top edge and counted as divergence, not
as spikes. In the committed run no learning rate diverged: Adam with BatchNorm stayed finite
even at lr 0.1, which is why the training loss there stalls high instead of exploding.

Run:  python -m gdsim.gallery.13_step_size_cnn [--quick] [--out DIR]  (or: gdsim figures --only step_size_cnn)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, plots
from gdsim.studies.cnn.settings import setting_line, short
from gdsim.studies.cnn.step_size import step_size

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "13_step_size_cnn"


def compute(quick: bool = False) -> dict:
    return step_size(quick=quick)


def plot(d: dict):
    c = plots.COLORS
    colors = [c["black"], c["blue"], c["orange"], c["vermillion"]]
    s = d["settings"]
    diverged_runs = sum(x is not None for row in d["table"].values() for x in row["diverged_at"])
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        finite = [np.asarray(curve[key], dtype=float) for curve in d["curves"].values()
                  for key in ("loss", "val_loss")]
        finite = np.concatenate([v[np.isfinite(v)] for v in finite])
        for color, (label, curve) in zip(colors, d["curves"].items()):
            row = d["table"][label]
            lr = short(curve["lr"])
            diverged = sum(x is not None for x in row["diverged_at"])
            counts = (f"{plots.plural(row['spikes_total'], 'spike')} "
                      f"in {plots.plural(row['runs'], 'run')}"
                      + (f", {diverged} diverged" if diverged else ""))
            for ax, key, text in ((left, "loss", f"lr {lr}"), (right, "val_loss",
                                                               f"lr {lr}: {counts}")):
                v = np.asarray(curve[key], dtype=float)
                epochs = np.arange(1, len(v) + 1)
                ax.semilogy(epochs, np.where(np.isfinite(v), v, np.nan), color=color, lw=2,
                            label=text)
                bad = ~np.isfinite(v)
                if bad.any():
                    ax.plot(epochs[bad], np.full(bad.sum(), 1.0), "x", ms=10, mew=2, color=color,
                            transform=ax.get_xaxis_transform(), clip_on=False)
                if key == "val_loss" and curve["spike_epochs"]:
                    peaks = np.asarray(curve["spike_epochs"])
                    ax.plot(peaks, v[peaks - 1], "o", ms=11, mfc="none", mew=2.2, color=color)
        for ax in (left, right):
            # Head-room above the curves on the log axis, so the legends cover no data.
            ax.set_ylim(0.9 * finite.min(), finite.max() * 4)
            plots.plain_log_ticks(ax)
            plots.integer_ticks(ax)
        plots.labels(left, "epoch", "training loss (Keras 'loss')",
                     "training loss" + ("" if diverged_runs else ": no run diverged"))
        plots.labels(right, "epoch", "validation loss", "validation loss, spikes circled")
        left.legend(loc="upper center", ncol=2, title=f"seed 0 drawn (of {s['seeds']} per rate)")
        right.legend(loc="upper right", fontsize=13)
        fig.suptitle(setting_line(s).replace(f"lr {short(s['lr'])}",
                                                              "lr varied"),
                     fontsize=15)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
