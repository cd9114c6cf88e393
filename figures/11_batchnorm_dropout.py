"""BatchNorm's train/inference mismatch and dropout: where the gap between the two loss curves comes from.

The training loss Keras prints is measured in *training mode* — dropout on, BatchNorm using
each batch's own mean/variance — and averaged over an epoch while the weights move; the
validation loss is measured after the epoch in *inference mode* — dropout off, BatchNorm using
its moving averages (momentum 0.99: a memory of ~100 steps). Set-up: the reduced seed run
(``gdsim.cnn_experiments.EXPERIMENT``: 4000 images 16x16x3, Adam lr 1e-4, batch 32, 30 epochs,
three seeds per setting).

Left (seed 0, the seed's network): the training loss as Keras prints it, the training set scored
like the validation set (end-of-epoch weights, inference mode), the validation loss as Keras
prints it, and the validation set scored with batch statistics (BatchNorm in training mode,
dropout off, moving averages untouched).

Right: the validation loss (inference mode) with BN momentum 0.99 (the seed), 0.9 (moving
statistics that keep up with the weights) and without dropout; spike counts over all seeds in
the legend.

Run:  python figures/11_batchnorm_dropout.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdsim import cnn_experiments, figures, plots

HERE = Path(__file__).resolve().parent
STEM = "11_batchnorm_dropout"


def compute(quick: bool = False) -> dict:
    return cnn_experiments.batchnorm_dropout(quick=quick)


def _headroom(ax, factor: float = 1.45) -> None:
    """Room above the curves for the legend."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, low + (high - low) * factor)


def plot(d: dict):
    c = plots.COLORS
    s = d["settings"]
    labels = list(d["curves"])
    short = {labels[0]: "mom. 0.99 + dropout (seed)", labels[1]: "mom. 0.9 + dropout",
             labels[2]: "mom. 0.99, no dropout"}
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        base = d["curves"][labels[0]]
        epochs = np.arange(1, len(base["loss"]) + 1)
        left.plot(epochs, base["loss"], color=c["blue"], label="train, training mode ('loss')")
        left.plot(epochs, base["train_loss_inference"], color=c["blue"], ls=":",
                  label="train, inference mode")
        left.plot(epochs, base["val_loss"], color=c["vermillion"],
                  label="val, inference mode ('val_loss')")
        left.plot(epochs, base["val_loss_batch_stats"], color=c["vermillion"], ls="--",
                  label="val, BN batch statistics")
        plots.labels(left, "epoch", "loss (cross-entropy)", "one network, 4 scores")
        _headroom(left)
        left.legend(loc="upper right", fontsize=12)

        for color, label in zip([c["vermillion"], c["green"], c["black"]], labels):
            v = np.asarray(d["curves"][label]["val_loss"], dtype=float)
            row = d["table"][label]
            bs = d["table"][label + " — val with batch statistics"]
            right.plot(epochs, v, color=color, lw=2,
                       label=f"{short[label]}: {row['spikes_total']} ({bs['spikes_total']})")
            peaks = d["curves"][label]["spike_epochs"]
            if peaks:
                right.plot(peaks, v[np.asarray(peaks) - 1], "o", ms=11, mfc="none", mew=2.2,
                           color=color)
        plots.labels(right, "epoch", "validation loss (inference mode)",
                     "BN momentum, dropout")
        _headroom(right)
        right.legend(loc="upper right", fontsize=12,
                     title=f"val spikes, {s['seeds']} seeds (with batch stats)")
        fig.suptitle(cnn_experiments.setting_line(s) + "; curves: seed 0", fontsize=15)
    return fig


def main(out_dir: str | Path = HERE, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
