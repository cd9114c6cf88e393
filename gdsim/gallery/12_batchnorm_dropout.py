"""BatchNorm's train/inference mismatch and dropout: the spikes live in the inference-mode network.
================================================================================================

The training loss Keras prints is measured in *training mode* — dropout on, BatchNorm using
each batch's own mean/variance — and averaged over an epoch while the weights move; the
validation loss is measured after the epoch in *inference mode* — dropout off, BatchNorm using
its moving averages (momentum 0.99: a memory of ~100 steps, which lag the weights).

Top (the seed's own setting: 8000 images 32x32x3, Adam lr 1e-4, batch 32, 100 epochs, seed 0 —
the run of figure 09): every epoch scored four ways: the training loss as Keras prints it, the
training set in inference mode, the validation loss as Keras prints it, and the validation set
with BatchNorm *batch* statistics (training-mode BN, dropout off, moving averages untouched).
Circles: spikes (``gdsim.spikes``: > 20 % above the running minimum, back within 3 epochs).

Bottom left: the same validation loss with BN momentum 0.99 (the seed) and 0.9 (moving
statistics that keep up with the weights). Bottom right (reduced setting,
``gdsim.studies.cnn.settings.EXPERIMENT``: 4000 images 16x16x3, 30 epochs, 3 seeds): with and without
dropout — training vs validation loss.

Run:  python -m gdsim.gallery.12_batchnorm_dropout [--quick] [--out DIR]  (or: gdsim figures --only batchnorm_dropout)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, plots, spikes
from gdsim.studies.cnn.batchnorm import batchnorm_dropout, batchnorm_seed_setting
from gdsim.studies.cnn.settings import SPIKE_RULE

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "12_batchnorm_dropout"


def compute(quick: bool = False) -> dict:
    return {"seed setting": batchnorm_seed_setting(quick=quick),
            "seed setting, momentum 0.9": batchnorm_seed_setting(
                quick=quick, bn_momentum=0.9),
            "reduced": batchnorm_dropout(quick=quick)}


def _with_spikes(ax, v, color, label, ls="-", lw=2.2, mark=True) -> int:
    v = np.asarray(v, dtype=float)
    epochs = np.arange(1, len(v) + 1)
    peaks = spikes.spike_summary(v, **SPIKE_RULE)["epochs"]
    ax.plot(epochs, v, color=color, ls=ls, lw=lw, label=f"{label}: {plots.plural(len(peaks), 'spike')}")
    if peaks and mark:
        ax.plot(peaks, v[np.asarray(peaks) - 1], "o", ms=11, mfc="none", mew=2.2, color=color)
    return len(peaks)


def plot(d: dict):
    c = plots.COLORS
    seed, fast, reduced = d["seed setting"], d["seed setting, momentum 0.9"], d["reduced"]
    s = seed["settings"]
    with plots.style():
        fig, ax = plots.new_mosaic([["top", "top"], ["left", "right"]])
        top = ax["top"]
        cv = seed["curves"]
        _with_spikes(top, cv["loss"], c["blue"], "train, training mode ('loss')")
        # Same data as the blue line, other mode: same hue, a bold dash that a projector keeps.
        _with_spikes(top, cv["train_loss_inference"], c["blue"], "train, inference mode",
                     ls=(0, (5, 2, 1, 2)), lw=2.4)
        _with_spikes(top, cv["val_loss"], c["vermillion"], "val, inference mode ('val_loss')")
        _with_spikes(top, cv["val_loss_batch_stats"], c["black"], "val, BN batch statistics",
                     ls="--", lw=1.8)
        plots.labels(top, "epoch", "loss", f"seed setting ({s['n']} imgs {s['size']}x{s['size']}): "
                     "spikes only in inference mode")
        top.set_ylim(0.2, min(1.2, top.get_ylim()[1]))
        top.legend(loc="upper right", fontsize=11, ncol=2)

        left = ax["left"]
        _with_spikes(left, seed["curves"]["val_loss"], c["vermillion"], "momentum 0.99")
        _with_spikes(left, fast["curves"]["val_loss"], c["green"], "momentum 0.9")
        plots.labels(left, "epoch", "val loss (inference)", "BN momentum (seed setting)")
        left.set_ylim(0.2, min(1.2, left.get_ylim()[1]))
        left.legend(loc="upper right", fontsize=11)

        right = ax["right"]
        labels = list(reduced["curves"])
        for label, color in ((labels[0], c["vermillion"]), (labels[2], c["black"])):
            curve = reduced["curves"][label]
            row = reduced["table"][label]
            name = "dropout" if "no dropout" not in label else "no dropout"
            epochs = np.arange(1, len(curve["loss"]) + 1)
            right.plot(epochs, curve["loss"], color=color, ls="--", lw=2.4, label=f"{name}: train")
            right.plot(epochs, curve["val_loss"], color=color, lw=2.2,
                       label=f"{name}: val, {plots.plural(row['spikes_total'], 'spike')} in "
                             f"{plots.plural(row['runs'], 'run')}")
        r = reduced["settings"]
        plots.labels(right, "epoch", "loss", f"dropout ({r['size']}x{r['size']}, {r['epochs']} ep)")
        low, high = right.get_ylim()
        right.set_ylim(low, high + 1.1 * (high - low))  # head-room: the legend covers no data
        right.legend(loc="upper right", fontsize=11)
        for panel in ax.values():
            plots.integer_ticks(panel)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
