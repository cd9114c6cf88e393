"""A finite validation sample: the same checkpoints scored on 200, 2000 and 20000 images.
======================================================================================

The seed's answer: validation metrics are noisier still, because the validation set is a
smaller sample (and not what is optimised). Set-up: one run of the seed CNN (reduced setting,
``gdsim.studies.cnn.settings.EXPERIMENT``: 4000 images of 16x16x3, Adam lr 1e-4, batch 32, 30
epochs). After every epoch its weights (a checkpoint) score a pool of fresh images from the same
generator with another seed (``real_fake_images(40000, seed=10000)``).

Left: the validation-loss curve of the same checkpoints on the first 200, 2000 and 20000
pool images; circles mark spikes (``gdsim.spikes``, > 20 % above the running minimum, back
within 3 epochs). The training run is identical in all three: only the ruler changes.
Middle: the same at lr 1e-3, whose checkpoints do jump: the spikes sit at the same epochs for
every ruler, so they come from the weights, not from the size of the validation sample.

Right: the spread of a size-m validation loss — the standard deviation over 400 validation
sets of m images resampled from the pool, averaged over the checkpoints — against m, with
``sd(l_i)/sqrt(m)`` (per-image losses l_i): a tenfold larger set, a ~3.2x smaller spread.

Run:  python -m gdsim.gallery.11_validation_sample_size [--quick] [--out DIR]  (or: gdsim figures --only validation_sample_size)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, plots
from gdsim.studies.cnn.settings import SPIKE_RULE, setting_line, short
from gdsim.studies.cnn.validation_size import validation_size

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "11_validation_sample_size"


def compute(quick: bool = False) -> dict:
    # the seed's lr, and a 10x larger one whose checkpoints themselves jump (for contrast)
    return {"seed lr": validation_size(quick=quick),
            "lr x10": validation_size(quick=quick, lr=1e-3)}


def _curves(ax, d: dict, colors, title: str) -> None:
    from gdsim import spikes
    sizes = [int(m) for m in d["sizes"]]
    for color, m in zip(colors, sizes):
        v = np.asarray(d["curves"][str(m)], dtype=float)
        epochs = np.arange(1, len(v) + 1)
        ax.plot(epochs, v, color=color, lw=2.5 if m == max(sizes) else 1.8,
                label=f"{m} images: {d['table'][f'val {m}']['spikes_total']} spikes")
        peaks = spikes.spike_summary(v, **SPIKE_RULE)["epochs"]
        if peaks:
            ax.plot(peaks, v[np.asarray(peaks) - 1], "o", ms=11, mfc="none", mew=2.2,
                    color=color)
    plots.labels(ax, "epoch", "validation loss", title)
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.35 * (high - low), high)  # room for the legend below the curves
    ax.legend(loc="lower left", fontsize=11)


def plot(d: dict):
    c = plots.COLORS
    colors = [c["vermillion"], c["blue"], c["black"]]
    base, fast = d["seed lr"], d["lr x10"]
    s = base["settings"]
    with plots.style():
        fig, (left, middle, right) = plots.new_figure(1, 3)
        _curves(left, base, colors, f"lr {short(s['lr'])}")
        _curves(middle, fast, colors, f"lr {short(fast['settings']['lr'])}")
        sizes = [int(m) for m in base["sizes"]]
        m = np.asarray(sizes, dtype=float)
        line = np.geomspace(m.min() * 0.7, m.max() * 1.4, 50)
        for color, (label, r) in zip([c["blue"], c["orange"]], d.items()):
            spread = np.array([r["spread_mean"][str(k)] for k in sizes])
            analytic = np.array([np.mean(r["spread_analytic"][str(k)]) for k in sizes])
            lr = short(r["settings"]["lr"])
            right.loglog(line, analytic[0] * np.sqrt(m[0] / line), color=color, lw=1.5, ls="--")
            right.loglog(m, spread, "o", ms=10, color=color, label=f"lr {lr}")
            for k, value in zip(m, spread):
                right.annotate(f"{value:.4f}", (k, value), xytext=(6, 6),
                               textcoords="offset points", fontsize=12, color=color)
        right.plot([], [], color=c["black"], ls="--", lw=1.5, label="sd(l_i)/√m")
        right.set_xlim(m.min() * 0.6, m.max() * 4)
        plots.labels(right, "validation set size m", "std of the validation loss",
                     "spread ∝ 1/√m")
        right.legend(loc="lower left", fontsize=12,
                     title=f"std over {base['settings']['resamples']} sets")
        fig.suptitle(setting_line({**s, "seeds": 1}).replace(
            f"lr {short(s['lr'])}", "lr as titled")
            , fontsize=15)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
