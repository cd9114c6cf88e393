"""One run of the seed question's recipe, measured: history, spikes, seconds.

The seed trains its CNN (:func:`gdsim.studies.cnn.model.seed_cnn`) on ~8000 genuine/fake
images with Adam(lr=1e-4), batch 32, 100 epochs, and sees the validation loss jump above the
training loss and come back. :func:`train_seed_run` is that run at any size; every experiment
of :mod:`gdsim.studies.cnn` is one or more of them.

BLAS runs single-threaded: the network's GEMMs are small, and BLAS threads would spend more
time waiting on each other than multiplying.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

import numpy as np

from gdsim import _io, _validate
from gdsim.nn import blas
from gdsim.nn.callbacks import Callback
from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.model import build_model
from gdsim.studies.cnn.settings import SPIKE_RULE, spike_summary

__all__ = ["train_seed_run"]


class _EpochHook(Callback):
    """After every epoch: extra measurements, elapsed seconds, and (optionally) the partial
    history written atomically as JSON — so a long run can be watched and is never lost."""

    def __init__(self, extra: Callable[[Any], dict[str, Any]] | None, path: str | None,
                 settings: dict[str, Any]) -> None:
        self.extra_fn, self.path, self.settings = extra, path, settings
        self.extra: dict[str, list] = {}
        self.seconds: list[float] = []
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.start)
        if self.extra_fn is not None:
            for key, value in self.extra_fn(self.model).items():
                self.extra.setdefault(key, []).append(value)
        if self.path is not None:
            history = _float_history(self.model.history.history)
            _io.save_json(self.path, {"settings": self.settings, "history": history,
                                      "epochs_done": epoch + 1,
                                      "seconds": self.seconds[-1]})


def _float_history(history: dict[str, list]) -> dict[str, list[float]]:
    return {k: [float(v) for v in vs] for k, vs in history.items()}


def train_seed_run(n: int = 8000, epochs: int = 100, batch_size: int = 32, lr: float = 1e-4,
                   decay: bool = False, size: int = 32, difficulty: float = 0.5, seed: int = 0,
                   verbose: int = 1, progress=None, *, dropout: bool = True,
                   bn_momentum: float = 0.99, validation_fraction: float = 0.25,
                   data: tuple | None = None, extra: Callable[[Any], dict] | None = None,
                   history_path: str | os.PathLike | None = None,
                   return_model: bool = False) -> dict[str, Any]:
    """Train the seed CNN with the seed's recipe on ``real_fake_images`` and measure it.

    Data: ``real_fake_images(n, size, 3, seed, difficulty)``, the last ``validation_fraction``
    held out (Keras ``validation_split``), or ``data = ((x, y), (x_val, y_val))``. Model: weights
    from ``seed``; ``Adam(lr)`` (``decay``: ``lr / (1 + lr/epochs * step)``); ``fit(batch_size,
    epochs, shuffle=True, seed=seed)`` with ``verbose`` Keras-style lines on ``progress``
    (a text stream; default stdout). ``extra(model) -> dict`` is called after every epoch
    (its values are collected under ``"extra"``); ``history_path`` receives the partial
    history as JSON after every epoch.

    Returns ``{"settings", "history" (loss, accuracy, val_loss, val_accuracy per epoch),
    "spikes" (spike_summary of val_loss under SPIKE_RULE), "train_spikes", "seconds",
    "epoch_seconds", "images_per_second", "final", "extra"}`` (+ ``"model"`` if asked).
    """
    n = _validate.integer("n", n, minimum=8)
    epochs = _validate.integer("epochs", epochs, minimum=1)
    batch_size = _validate.integer("batch_size", batch_size, minimum=1)
    lr = _validate.positive("lr", lr)
    size = _validate.integer("size", size, minimum=8)
    seed = _validate.integer("seed", seed, minimum=0)
    decay = _validate.boolean("decay", decay)
    dropout = _validate.boolean("dropout", dropout)
    if history_path is not None:  # before the first epoch, not after it
        history_path = _validate.writable_file("history_path", history_path)
    settings = {"n": n, "size": size, "channels": 3, "epochs": epochs, "batch_size": batch_size,
                "lr": lr, "decay": (lr / epochs) if decay else None, "difficulty": difficulty,
                "seed": seed, "dropout": bool(dropout), "bn_momentum": bn_momentum,
                "validation_fraction": validation_fraction, "optimizer": "Adam",
                "data_format": "channels_last", "classes": 2, "spike_rule": SPIKE_RULE}
    if data is None:
        data = make_data(n, size, seed, difficulty, validation_fraction)
    (x, y), (x_val, y_val) = data
    settings["n_train"], settings["n_validation"] = int(len(x)), int(len(x_val))
    model = build_model(size, lr, epochs=epochs, decay=decay, dropout=dropout,
                        bn_momentum=bn_momentum, seed=seed)
    hook = _EpochHook(extra, None if history_path is None else str(history_path), settings)
    with blas.blas_threads(1):
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs,
                            validation_data=(x_val, y_val), shuffle=True, seed=seed,
                            verbose=verbose, callbacks=[hook],
                            stream=progress if progress is not None else sys.stdout)
        seconds = time.perf_counter() - start
    h = _float_history(history.history)
    result = {
        "settings": settings, "history": h, "spikes": spike_summary(h["val_loss"]),
        "train_spikes": spike_summary(h["loss"]), "seconds": seconds,
        "epoch_seconds": np.diff(np.concatenate([[0.0], hook.seconds])).tolist(),
        "images_per_second": len(x) * len(h["loss"]) / seconds,
        "final": {k: v[-1] for k, v in h.items()}, "extra": hook.extra,
    }
    if return_model:
        result["model"] = model
    return result
