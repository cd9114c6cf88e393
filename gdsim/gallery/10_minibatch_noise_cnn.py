"""Minibatch noise in the seed CNN: spikes per batch size, and gradient-noise variance falling as 1/B.
===================================================================================================

The seed's answer: "minibatches (here 32) add extra noise, the price of faster convergence".
Set-up (reduced from the seed's 8000 32x32 images / 100 epochs to fit a shared 2-core machine,
see ``gdsim.studies.cnn.settings.EXPERIMENT``): ``real_fake_images(4000, 16x16x3)``, 75/25 split,
the seed CNN, Adam lr 1e-4, 30 epochs, three seeds per setting.

Left: the validation loss (inference mode, as Keras reports it) of the seed-0 run at batch
sizes 8, 32, 128 and the full training set (one step per epoch); circles mark the spikes
found by ``gdsim.spikes`` (a rise of more than 20 % over the running minimum that is back
within 3 epochs); the legend gives the spike count over all seeds.

Right: at a fixed point (the final weights of the batch-32 run), the variance of the minibatch
gradient around the full-data gradient, ``E||g_B - g||^2``, measured from sampled batches
(i.i.d. indices, inference-mode gradients so a batch gradient is a mean of per-sample ones),
against B on log-log axes, with the fitted slope; the line is ``tr(Sigma)/B``.

Run:  python -m gdsim.gallery.10_minibatch_noise_cnn [--quick] [--out DIR]  (or: gdsim figures --only minibatch_noise_cnn)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, plots
from gdsim.studies.cnn.minibatch_noise import minibatch_noise
from gdsim.studies.cnn.settings import setting_line

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "10_minibatch_noise_cnn"


def compute(quick: bool = False) -> dict:
    # set-up, run and measure: all in gdsim.studies.cnn.minibatch_noise
    return minibatch_noise(quick=quick)


def plot(d: dict):
    c = plots.COLORS
    colors = [c["vermillion"], c["blue"], c["green"], c["black"]]
    s = d["settings"]
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        for color, (label, curve) in zip(colors, d["curves"].items()):
            v = np.asarray(curve["val_loss"], dtype=float)
            epochs = np.arange(1, len(v) + 1)
            row = d["table"][label]
            left.plot(epochs, v, color=color, lw=2,
                      label=f"{label}: {row['spikes_total']} spikes / {row['runs']} runs")
            peaks = curve["spike_epochs"]
            if peaks:
                left.plot(peaks, v[np.asarray(peaks) - 1], "o", ms=11, mfc="none", mew=2.2,
                          color=color)
        plots.labels(left, "epoch", "validation loss (cross-entropy)",
                     "smaller batch, noisier curve")
        fig.suptitle(setting_line(s), fontsize=15)
        left.legend(loc="lower left", fontsize=12, title=f"val-loss spikes, {s['seeds']} seeds")

        g = d["gradient_noise"]
        b = np.asarray(g["batch_sizes"], dtype=float)
        v = np.asarray(g["variance"], dtype=float)
        trace = float(np.exp(np.mean(np.log(b * v))))  # tr(Sigma): the slope -1 fit
        right.loglog(b, trace / b, color=c["vermillion"], lw=2, label=f"tr(Σ)/B, tr(Σ) = {trace:.0f}")
        right.loglog(b, v, "o", ms=10, color=c["blue"], label=f"measured, slope {g['slope']:.3f}")
        right.axhline(g["full_gradient_norm2"], color=c["black"], ls=":", lw=2,
                      label=f"signal ‖∇L‖² = {g['full_gradient_norm2']:.1f}")
        plots.labels(right, "batch size B", "E‖g_B − ∇L‖² (gradient noise)",
                     "gradient noise ∝ 1/B")
        right.set_ylim(g["full_gradient_norm2"] / 4, None)
        right.legend(loc="upper right")
        plots.note(right, f"fixed weights: end of the batch-32 run\n{g['n']} training images, "
                          f"{g['draws']} batches per B", loc="lower left")
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
