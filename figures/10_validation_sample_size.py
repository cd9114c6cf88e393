"""A finite validation sample: the same checkpoints scored on 200, 2000 and 20000 images.

The seed's answer: validation metrics are noisier still, because the validation set is a
smaller sample (and not what is optimised). Set-up: one run of the seed CNN (reduced setting,
``gdsim.cnn_experiments.EXPERIMENT``: 4000 images of 16x16x3, Adam lr 1e-4, batch 32, 30
epochs). After every epoch its weights (a checkpoint) score a pool of fresh images from the same
generator with another seed (``real_fake_images(40000, seed=10000)``).

Left: the validation-loss curve of the same checkpoints on the first 200, 2000 and 20000
pool images; circles mark spikes (``gdsim.spikes``, > 20 % above the running minimum, back
within 3 epochs). The training run is identical in all three: only the ruler changes.

Right: the spread of a size-m validation loss — the standard deviation over 400 validation
sets of m images resampled from the pool, averaged over the checkpoints — against m, with
``sd(l_i)/sqrt(m)`` (per-image losses l_i): a tenfold larger set, a ~3.2x smaller spread.

Run:  python figures/10_validation_sample_size.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdsim import cnn_experiments, figures, plots

HERE = Path(__file__).resolve().parent
STEM = "10_validation_sample_size"


def compute(quick: bool = False) -> dict:
    return cnn_experiments.validation_size(quick=quick)


def plot(d: dict):
    c = plots.COLORS
    colors = [c["vermillion"], c["blue"], c["black"]]
    s = d["settings"]
    sizes = [int(m) for m in d["sizes"]]
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        for color, m in zip(colors, sizes):
            v = np.asarray(d["curves"][str(m)], dtype=float)
            epochs = np.arange(1, len(v) + 1)
            row = d["table"][f"val {m}"]
            left.plot(epochs, v, color=color, lw=2.5 if m == max(sizes) else 1.8,
                      label=f"{m} images: {row['spikes_total']} spikes")
            from gdsim import spikes
            peaks = spikes.spike_summary(v, **cnn_experiments.SPIKE_RULE)["epochs"]
            if peaks:
                left.plot(peaks, v[np.asarray(peaks) - 1], "o", ms=11, mfc="none", mew=2.2,
                          color=color)
        left.plot(np.arange(1, len(d["history"]["loss"]) + 1), d["history"]["loss"],
                  color=c["green"], ls="--", lw=1.8, label="train loss (as Keras)")
        plots.labels(left, "epoch", "validation loss, same checkpoints",
                     "same weights, different rulers")
        left.legend(loc="upper right", fontsize=12)
        fig.suptitle(cnn_experiments.setting_line({**s, "seeds": 1}), fontsize=15)

        m = np.asarray(sizes, dtype=float)
        spread = np.array([d["spread_mean"][str(k)] for k in sizes])
        analytic = np.array([np.mean(d["spread_analytic"][str(k)]) for k in sizes])
        line = np.geomspace(m.min() * 0.7, m.max() * 1.4, 50)
        right.loglog(line, analytic[0] * np.sqrt(m[0] / line), color=c["vermillion"], lw=2,
                     label="sd(l_i)/√m")
        right.loglog(m, spread, "o", ms=11, color=c["blue"],
                     label=f"std over {s['resamples']} resampled sets")
        for k, value in zip(m, spread):
            right.annotate(f"{value:.4f}", (k, value), xytext=(8, 6), textcoords="offset points",
                           fontsize=13)
        plots.labels(right, "validation set size m", "std of the validation loss",
                     "spread ∝ 1/√m")
        right.legend(loc="lower left")
    return fig


def main(out_dir: str | Path = HERE, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
