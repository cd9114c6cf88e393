"""The seed's "training result graph": train/val loss and accuracy of the seed CNN, spikes marked.
===============================================================================================

Seed question 000: ~8000 genuine/fake images, the seed CNN (``gdsim.studies.cnn.model.seed_cnn``,
134,226 parameters at 32x32x3), Adam lr 1e-4, batch 32, 100 epochs; the validation loss
sometimes spikes above the training loss and comes back. Set-up here: ``real_fake_images(8000,
32x32x3, seed 0, difficulty 0.5)``, the last 25 % held out for validation (Keras
``validation_split``), the seed's network and optimizer, 100 epochs (``quick``: 320 images of
8x8, 4 epochs). Plotted as the user's graph: ``train_loss``, ``val_loss``, ``train_acc``,
``val_acc`` against the epoch; circles mark the validation-loss spikes ``gdsim.spikes`` finds
(a rise of more than 20 % above the running minimum that is back within 3 epochs).

The same run is ``gdsim reproduce cnn`` (``gdsim.studies.cnn.reproduce.reproduce_cnn``), which also
writes the history as JSON and CSV.

Run:  python -m gdsim.gallery.09_cnn_training_curves [--quick] [--out DIR]  (or: gdsim figures --only cnn_training_curves)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

from gdsim import figures, plots
from gdsim.studies.cnn.settings import QUICK, SEED
from gdsim.studies.cnn.reproduce import curves_figure
from gdsim.studies.cnn.seed_run import train_seed_run

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "09_cnn_training_curves"


def compute(quick: bool = False) -> dict:
    # --- set-up: the seed's recipe (quick: a tiny version of it)
    settings = dict(SEED)
    if quick:
        settings.update(n=QUICK["n"], size=QUICK["size"], epochs=QUICK["epochs"])
    # --- run: train and measure (history, spikes, seconds)
    return train_seed_run(
        n=settings["n"], epochs=settings["epochs"], batch_size=settings["batch_size"],
        lr=settings["lr"], size=settings["size"], difficulty=settings["difficulty"], seed=0,
        verbose=0)


def plot(d: dict):
    return curves_figure(d)


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
