"""Seed question 000 ("validation loss sometimes spikes"): the run, and the answer taken apart.

The seed trains its CNN (:func:`gdsim.models.seed_cnn`) on ~8000 genuine/fake images with
Adam(lr=1e-4), batch 32, 100 epochs, and sees the validation loss jump above the training
loss and come back. The answer names causes; each experiment below isolates one of them in a
seeded, measured run and returns plain data (lists, floats, dicts) for a figure and a table:

=========================  ===================================================================
:func:`train_seed_run`     one run of the seed's recipe (any size): history, spikes, seconds
:func:`reproduce_cnn`      ``gdsim reproduce cnn``: the seed's settings, curves + history files
:func:`minibatch_noise`    batch 8 / 32 / 128 / full: spikes per setting, and the gradient
                           noise ``E||g_B - g||^2`` against B at a fixed point (slope -1)
:func:`validation_size`    the same checkpoints scored on 200 / 2000 / 20000 validation images
:func:`batchnorm_dropout`  BN moving statistics vs batch statistics, BN momentum 0.9 vs 0.99,
                           dropout on vs off (reduced setting, several seeds)
:func:`batchnorm_seed_setting`  the seed's own setting, every epoch scored four ways (train /
                           val x training-mode BN / inference-mode BN)
:func:`step_size`          lr 1e-4 / 1e-3 / 1e-2 / 1e-1: overshoot spikes and divergence
=========================  ===================================================================

A *spike* is :func:`gdsim.spikes.detect_spikes` on the per-epoch validation loss with
:data:`SPIKE_RULE` (a rise of more than 20 % above the running minimum that is back within
3 epochs). Spike counts from one run are themselves noisy, so the experiments count them
over several seeds (:data:`EXPERIMENT` ``seeds``).

Everything runs single-threaded in BLAS (:func:`gdsim.nn.blas.blas_threads`): the network's
GEMMs are small and two OpenBLAS threads on a shared 2-core machine spin-wait on each other
(measured here: 290 vs 2080 training images/s at 32x32).

What the measurements say (``figures/cnn_results.json``): at the seed's setting the
validation loss spikes 9 times in 100 epochs, the training loss as Keras prints it never;
scored with BatchNorm batch statistics the same validation images never spike, while the
*training* set scored in inference mode spikes at 6 of the same epochs, and BN momentum 0.9
cuts the spikes to 1. The spikes are the inference-mode network (moving statistics that lag
the weights), not the validation sample: 200, 2000 and 20000 validation images spike at the
same epochs, and the sample's own spread (~1/sqrt(m)) is 1 % of the loss at m = 2000.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gdsim import _io, _validate, datasets, models, numerics, optim, schedules, spikes
from gdsim.nn import blas
from gdsim.nn.callbacks import Callback
from gdsim.nn.layers import BatchNormalization
from gdsim.nn.losses import CategoricalCrossentropy

__all__ = ["SEED", "EXPERIMENT", "QUICK", "SPIKE_RULE", "make_data", "build_model",
           "train_seed_run", "reproduce_cnn", "gradient_noise", "minibatch_noise",
           "validation_size", "batchnorm_dropout", "batchnorm_seed_setting", "step_size",
           "spike_table",
           "curves_figure", "history_csv", "save_results"]

#: The seed question's recipe (``gdsim reproduce cnn``).
SEED: dict[str, Any] = {"n": 8000, "size": 32, "epochs": 100, "batch_size": 32, "lr": 1e-4,
                        "difficulty": 0.5, "validation_fraction": 0.25}
#: The reduced but honest setting of the experiments (same network, optimizer, batch, lr,
#: split; smaller images and fewer of them, fewer epochs, several seeds).
EXPERIMENT: dict[str, Any] = {"n": 4000, "size": 16, "epochs": 30, "batch_size": 32,
                              "lr": 1e-4, "difficulty": 0.5, "validation_fraction": 0.25,
                              "seeds": 3}
#: Test-sized setting: seconds per experiment.
QUICK: dict[str, Any] = {"n": 320, "size": 8, "epochs": 4, "batch_size": 32, "lr": 1e-4,
                         "difficulty": 0.5, "validation_fraction": 0.25, "seeds": 1}
#: What counts as a spike (arguments of :func:`gdsim.spikes.spike_summary`).
SPIKE_RULE: dict[str, Any] = {"threshold": 0.2, "recovery": 3, "warmup": 1}

_CE = CategoricalCrossentropy()


# ---------------------------------------------------------------------------- set-up
def make_data(n: int, size: int, seed: int = 0, difficulty: float = 0.5,
              validation_fraction: float = 0.25) -> tuple[tuple[np.ndarray, np.ndarray],
                                                          tuple[np.ndarray, np.ndarray]]:
    """``real_fake_images(n, size, 3, seed)`` split like Keras ``validation_split`` (the last
    ``validation_fraction``): ``(x_train, y_train), (x_val, y_val)``, x ``(m, size, size, 3)``
    float32 in [0, 1], y one-hot ``(m, 2)``."""
    x, y = datasets.real_fake_images(n=n, size=size, channels=3, seed=seed,
                                     difficulty=difficulty)
    return datasets.train_validation_split(x, y, validation_fraction)


def build_model(size: int, lr: float = 1e-4, *, epochs: int = 100, decay: bool = False,
                dropout: bool = True, bn_momentum: float = 0.99, seed: int = 0):
    """The seed CNN for ``size x size x 3`` inputs, compiled as the seed compiles it:
    ``Adam(lr)`` (``decay=True``: old Keras ``decay = lr / epochs``, i.e.
    ``lr_t = lr / (1 + lr/epochs * t)``), categorical cross-entropy, accuracy."""
    model = models.seed_cnn(size, size, 3, 2, dropout=dropout, seed=seed)
    bn_momentum = _validate.in_range("bn_momentum", bn_momentum, 0.0, 1.0, high_open=False)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.momentum = bn_momentum
    rate = schedules.legacy_decay(lr, lr / epochs) if decay else lr
    model.compile(optimizer=optim.Adam(learning_rate=rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def per_sample_loss(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Cross-entropy of every sample in inference mode, ``(m,)`` float64. Its mean is
    ``model.evaluate(x, y)`` (up to float32 summation order)."""
    p = model.predict(x, batch_size=batch_size)
    return np.asarray(_CE.per_sample(y, p), dtype=np.float64)


def batch_statistics_loss(model, x: np.ndarray, y: np.ndarray, batch_size: int = 32) -> float:
    """Validation loss with BatchNorm in *training* mode (each batch normalised by its own
    mean/variance, as during ``fit``) but dropout off and the moving statistics left untouched:
    the loss the training curve would show for these images, minus dropout."""
    bns = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
    saved = [(layer.moving_mean.copy(), layer.moving_variance.copy()) for layer in bns]
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for start in range(0, len(x), batch_size):
            h = x[start:start + batch_size]
            for layer in model.layers:
                h = layer.forward(h, training=isinstance(layer, BatchNormalization))
            total += float(np.sum(_CE.per_sample(y[start:start + batch_size], h)))
    for layer, (mean, var) in zip(bns, saved):
        layer.moving_mean, layer.moving_variance = mean, var
    return total / len(x)


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
            history = {k: [float(v) for v in vs] for k, vs in self.model.history.history.items()}
            _io.save_json(self.path, {"settings": self.settings, "history": history,
                                      "epochs_done": epoch + 1,
                                      "seconds": self.seconds[-1]})


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return spikes.spike_summary(np.asarray(values, dtype=np.float64), **SPIKE_RULE)


def _float_history(history: dict[str, list]) -> dict[str, list[float]]:
    return {k: [float(v) for v in vs] for k, vs in history.items()}


# ---------------------------------------------------------------------------- the run
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
        "settings": settings, "history": h, "spikes": _summary(h["val_loss"]),
        "train_spikes": _summary(h["loss"]), "seconds": seconds,
        "epoch_seconds": np.diff(np.concatenate([[0.0], hook.seconds])).tolist(),
        "images_per_second": len(x) * len(h["loss"]) / seconds,
        "final": {k: v[-1] for k, v in h.items()}, "extra": hook.extra,
    }
    if return_model:
        result["model"] = model
    return result


def history_csv(history: dict[str, list[float]]) -> str:
    """The per-epoch history as CSV text: ``epoch,loss,accuracy,val_loss,val_accuracy``."""
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history]
    keys += [k for k in history if k not in keys]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for t in range(len(history[keys[0]])):
        writer.writerow([t + 1, *(repr(float(history[k][t])) for k in keys)])
    return out.getvalue()


def _short(value: float) -> str:
    """1e-4 rather than 0.0001 or 1e-04 (titles)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}" if abs(value) < 1e-2 else f"{value:g}"


def setting_line(s: dict[str, Any]) -> str:
    """One line naming an experiment's setting, for figure titles: what was reduced shows."""
    seeds = f" · {s['seeds']} seeds" if s.get("seeds", 1) > 1 else ""
    return (f"seed CNN · {s['n']} imgs {s['size']}x{s['size']}x3 · Adam lr {_short(s['lr'])} · "
            f"batch {s['batch_size']} · {s['epochs']} epochs{seeds}")


def curves_figure(result: dict[str, Any], title: str | None = None):
    """The user's "training result graph": train/val loss and accuracy against epoch, spikes
    (the detector's) marked on the validation loss. Returns a matplotlib Figure."""
    from gdsim import plots

    h, c = result["history"], plots.COLORS
    epochs = np.arange(1, len(h["loss"]) + 1)
    s = result["settings"]
    with plots.style():
        fig, ax = plots.new_figure()
        ax.plot(epochs, h["loss"], color=c["blue"], label="train_loss")
        ax.plot(epochs, h["val_loss"], color=c["vermillion"], label="val_loss")
        ax.plot(epochs, h["accuracy"], color=c["green"], ls="--", label="train_acc")
        ax.plot(epochs, h["val_accuracy"], color=c["orange"], ls="--", label="val_acc")
        peaks = result["spikes"]["epochs"]
        if peaks:
            ax.plot(peaks, [h["val_loss"][p - 1] for p in peaks], "o", ms=12, mfc="none",
                    mew=2.5, color=c["black"],
                    label=f"spike ({len(peaks)}): >{SPIKE_RULE['threshold']:.0%} above best, "
                          f"back within {SPIKE_RULE['recovery']}")
        decay = f", decay {_short(s['decay'])}" if s.get("decay") else ""
        plots.labels(ax, "Epoch #", "Loss / Accuracy", title or (
            f"Training loss and accuracy (seed CNN)\n{s['n']} images {s['size']}x{s['size']}x3, "
            f"Adam lr {_short(s['lr'])}{decay}, batch {s['batch_size']}, {len(epochs)} epochs"))
        values = np.asarray(h["val_loss"] + h["loss"], dtype=float)
        top = np.nanmax(np.where(np.isfinite(values), values, np.nan)) if np.isfinite(values).any() else 1.0
        ax.set_ylim(0, max(1.05, min(3.0, 1.05 * top)))
        ax.legend(loc="upper right", ncol=2, fontsize=12)
        plots.integer_ticks(ax)
        f = result["final"]
        plots.note(ax, f"final: train acc {f['accuracy']:.3f}, val acc {f['val_accuracy']:.3f}\n"
                       f"{plots.duration(result['seconds'])}, "
                       f"{result['images_per_second']:.0f} train img/s", loc="lower right")
    return fig


def reproduce_cnn(epochs: int = 100, n: int = 8000, json_output: bool = False,
                  out_dir: str | os.PathLike = "figures", *, decay: bool = False,
                  size: int = 32, seed: int = 0, verbose: int = 1, progress=None,
                  stem: str = "cnn_seed_run") -> dict[str, Any]:
    """``gdsim reproduce cnn``: the seed's run (Adam lr 1e-4, batch 32, 75/25 split,
    channels_last, 2 classes; ``decay``: old Keras ``decay=lr/epochs``) with Keras-style
    progress (on stderr when ``json_output``, so stdout stays JSON), then writes, atomically,
    ``out_dir/09_cnn_training_curves.{png,svg}``, ``out_dir/<stem>.json`` (settings, history,
    spikes, seconds, the numerics profile) and ``out_dir/<stem>.csv`` (the per-epoch history,
    after a ``# gdsim numerics profile: ...`` line). Returns the result
    dict (``history``, ``spikes``, ``seconds``, ``paths``, ...); with ``json_output`` also
    prints it as JSON on stdout.
    """
    from gdsim import plots

    out = Path(_io.ensure_folder("out_dir", out_dir))
    stream = progress if progress is not None else (sys.stderr if json_output else sys.stdout)
    result = train_seed_run(n=n, epochs=epochs, batch_size=SEED["batch_size"], lr=SEED["lr"],
                            decay=decay, size=size, difficulty=SEED["difficulty"], seed=seed,
                            verbose=verbose, progress=stream,
                            history_path=out / f"{stem}.partial.json")
    paths = plots.save(curves_figure(result), out, "09_cnn_training_curves")
    payload = numerics.stamp({k: result[k] for k in ("settings", "history", "spikes", "train_spikes",
                                                     "seconds", "images_per_second", "final",
                                                     "epoch_seconds")})
    _io.save_json(out / f"{stem}.json", payload)
    csv_text = numerics.csv_header() + history_csv(result["history"])
    _io.atomic_write(out / f"{stem}.csv", lambda fh: fh.write(csv_text), mode="w")
    try:
        os.remove(out / f"{stem}.partial.json")
    except FileNotFoundError:
        pass
    paths += [out / f"{stem}.json", out / f"{stem}.csv"]
    result["paths"] = [str(p) for p in paths]
    if json_output:  # the same keys as the file it wrote
        print(_io.dumps_json(payload))
    elif verbose:
        f, sp = result["final"], result["spikes"]
        spikes_text = (f"{sp['count']} at epochs {', '.join(map(str, sp['epochs']))}"
                       if sp["count"] else "none")
        print(f"{len(result['history']['loss'])} epochs in {result['seconds']:.1f} s "
              f"({result['images_per_second']:.0f} training images/s); final loss {f['loss']:.4f} "
              f"accuracy {f['accuracy']:.4f} val_loss {f['val_loss']:.4f} val_accuracy "
              f"{f['val_accuracy']:.4f}; val_loss spikes: {spikes_text}", file=stream)
        for path in paths:
            print(f"wrote {path}", file=stream)
    return result


# ---------------------------------------------------------------------------- experiments
def _settings(quick: bool, **overrides: Any) -> dict[str, Any]:
    s = dict(QUICK if quick else EXPERIMENT)
    s.update(overrides)
    return s


def standard_extra(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
                   ) -> Callable[[Any], dict[str, float]]:
    """The per-epoch measurements every experiment run records besides Keras's history:
    ``val_loss_batch_stats`` (:func:`batch_statistics_loss` on the validation set) and
    ``train_loss_inference`` (the training set scored like the validation set: end-of-epoch
    weights, inference mode) — the two halves of the train/val mismatch."""
    def extra(model) -> dict[str, float]:
        return {"val_loss_batch_stats": batch_statistics_loss(model, x_val, y_val),
                "train_loss_inference": float(per_sample_loss(model, x, y).mean())}
    return extra


_RUNS: dict[tuple, dict] = {}


def experiment_run(s: dict[str, Any], seed: int, *, batch_size: int | None = None,
                   lr: float | None = None, dropout: bool = True,
                   bn_momentum: float = 0.99) -> dict[str, Any]:
    """One seeded run of the experiment setting ``s`` (memoised in-process, so experiments
    that share the baseline — batch 32, lr 1e-4, dropout, BN momentum 0.99 — train it once).
    Seed ``seed`` fixes the data set, the initial weights, the dropout masks and the order."""
    batch_size = s["batch_size"] if batch_size is None else batch_size
    lr = s["lr"] if lr is None else lr
    key = (s["n"], s["size"], s["epochs"], s["difficulty"], s["validation_fraction"], seed,
           batch_size, lr, dropout, bn_momentum)
    if key not in _RUNS:
        data = make_data(s["n"], s["size"], seed, s["difficulty"], s["validation_fraction"])
        _RUNS[key] = train_seed_run(
            n=s["n"], epochs=s["epochs"], batch_size=batch_size, lr=lr, size=s["size"],
            difficulty=s["difficulty"], seed=seed, verbose=0, dropout=dropout,
            bn_momentum=bn_momentum, validation_fraction=s["validation_fraction"], data=data,
            extra=standard_extra(*data[0], *data[1]), return_model=True)
    return _RUNS[key]


def _row(runs: list[dict[str, Any]], curve: str = "val_loss") -> dict[str, Any]:
    """Spike statistics of one setting over its seeded runs (for the README table)."""
    summaries = []
    for r in runs:
        values = r["history"][curve] if curve in r["history"] else r["extra"][curve]
        summaries.append(_summary(values))
    heights = [x for s in summaries for x in ([s["max_height"]] if s["count"] else [])]
    finals = [r["final"]["val_accuracy"] for r in runs]
    return {"runs": len(runs), "curve": curve,
            "spikes": [s["count"] for s in summaries],
            "spikes_total": int(sum(s["count"] for s in summaries)),
            "spikes_per_run": float(np.mean([s["count"] for s in summaries])),
            "max_height": float(max(heights)) if heights else 0.0,
            "diverged_at": [s["diverged_at"] for s in summaries],
            "final_val_accuracy": float(np.mean(finals)),
            "seconds_per_run": float(np.mean([r["seconds"] for r in runs]))}


def _batch_gradient(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean loss over ``x`` in inference mode (BN moving statistics, no
    dropout), so a batch gradient is exactly the mean of its per-sample gradients."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        _, grads = model.gradient(x, y)
    return np.concatenate([g.ravel() for g in grads]).astype(np.float64)


def gradient_noise(model, x: np.ndarray, y: np.ndarray, batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
                   draws: int = 64, seed: int = 0) -> dict[str, Any]:
    """The minibatch gradient's variance around the full gradient at the model's weights.

    ``g = (1/N) sum_i grad l_i`` over all of ``x`` (N samples); for each B, ``draws`` batches
    of B indices drawn i.i.d. (with replacement), ``g_B`` their gradient, and
    ``var(B) = mean ||g_B - g||^2``, whose expectation is ``tr(Sigma)/B`` (Sigma: the
    covariance of the per-sample gradients): slope -1 on log-log axes. Gradients are taken in
    inference mode (BatchNorm moving statistics, dropout off): with batch statistics a batch
    gradient is not a mean of independent per-sample terms. Returns batch sizes, variances,
    the fitted log-log slope, ``tr(Sigma)`` (the slope -1 fit) and ``||g||^2`` (the signal).
    """
    draws = _validate.integer("draws", draws, minimum=2)
    rng = np.random.default_rng(np.random.SeedSequence(_validate.integer("seed", seed, minimum=0)))
    with blas.blas_threads(1):
        full = np.zeros(0)
        chunk = 500
        for start in range(0, len(x), chunk):
            g = _batch_gradient(model, x[start:start + chunk], y[start:start + chunk])
            w = len(x[start:start + chunk]) / len(x)
            full = g * w if full.size == 0 else full + g * w
        variances = []
        for b in batch_sizes:
            idx = rng.integers(0, len(x), size=(draws, int(b)))
            sq = [float(np.sum((_batch_gradient(model, x[i], y[i]) - full) ** 2)) for i in idx]
            variances.append(float(np.mean(sq)))
    b = np.asarray(batch_sizes, dtype=np.float64)
    v = np.asarray(variances)
    slope, intercept = np.polyfit(np.log(b), np.log(v), 1)
    return {"batch_sizes": [int(k) for k in batch_sizes], "variance": variances,
            "slope": float(slope), "intercept": float(intercept),
            # tr(Sigma) from all B at once (geometric mean of B*var(B), the slope -1 fit):
            # the B = 1 draws alone are dominated by a few heavy-tailed per-sample gradients
            "trace_sigma": float(np.exp(np.mean(np.log(b * v)))),
            "full_gradient_norm2": float(np.sum(full ** 2)), "draws": draws,
            "n": int(len(x)), "mode": "inference (BN moving statistics, dropout off)"}


def minibatch_noise(quick: bool = False, batch_sizes: Sequence[int | str] = (8, 32, 128, "full"),
                    **overrides: Any) -> dict[str, Any]:
    """Experiment 1: the same run with batch sizes 8, 32, 128 and the full training set
    (one step per epoch), over ``seeds`` seeds; then the gradient-noise law at a fixed point
    (the seed-0 batch-32 run's final weights)."""
    s = _settings(quick, **overrides)
    rows, curves = {}, {}
    for b in batch_sizes:
        runs = []
        for seed in range(s["seeds"]):
            n_train = int(math.floor(s["n"] * (1 - s["validation_fraction"])))
            size_b = n_train if b == "full" else int(b)
            runs.append(experiment_run(s, seed, batch_size=size_b))
        label = f"batch {b}" if b != "full" else f"full batch ({size_b})"
        rows[label] = _row(runs)
        curves[label] = {"loss": runs[0]["history"]["loss"], "val_loss": runs[0]["history"]["val_loss"],
                         "spike_epochs": runs[0]["spikes"]["epochs"], "batch_size": size_b}
    base = experiment_run(s, 0)
    (x, y), _ = make_data(s["n"], s["size"], 0, s["difficulty"], s["validation_fraction"])
    noise = gradient_noise(base["model"], x, y,
                           batch_sizes=(1, 2, 4, 8, 16, 32) if quick else (1, 2, 4, 8, 16, 32, 64, 128),
                           draws=48 if quick else 96, seed=1)
    return {"settings": s, "table": rows, "curves": curves, "gradient_noise": noise}


def validation_size(quick: bool = False, sizes: Sequence[int] | None = None,
                    universe: int | None = None, resamples: int = 400,
                    **overrides: Any) -> dict[str, Any]:
    """Experiment 2: the checkpoints of one run (seed 0, the experiment setting) scored after
    every epoch on fresh validation images from the same generator with another seed
    (``real_fake_images(universe, seed=10_000)``). For each size m: the validation-loss curve
    on the first m of them (and its spikes), and the spread of a size-m validation loss —
    the std over ``resamples`` validation sets of m images drawn from the pool, at every
    checkpoint — next to ``sd(l_i)/sqrt(m)``."""
    s = _settings(quick, **overrides)
    sizes = list(sizes or ((20, 200, 2000) if quick else (200, 2000, 20000)))
    universe = universe or (4000 if quick else 40000)
    if max(sizes) > universe:
        raise ValueError(f"universe must be at least max(sizes) = {max(sizes)}, got {universe}")
    x_pool, y_pool = datasets.real_fake_images(n=universe, size=s["size"], channels=3,
                                               seed=10_000, difficulty=s["difficulty"])
    pool_losses: list[np.ndarray] = []

    def extra(model) -> dict[str, float]:
        pool_losses.append(per_sample_loss(model, x_pool, y_pool).astype(np.float32))
        return {}

    run = train_seed_run(n=s["n"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                         size=s["size"], difficulty=s["difficulty"], seed=0, verbose=0,
                         validation_fraction=s["validation_fraction"], extra=extra)
    losses = np.stack(pool_losses).astype(np.float64)            # (epochs, universe)
    rng = np.random.default_rng(np.random.SeedSequence(7))
    curves, spread, analytic, table = {}, {}, {}, {}
    for m in sizes:
        curve = losses[:, :m].mean(axis=1)
        key = str(m)  # string keys: the dict survives a JSON round trip unchanged
        curves[key] = curve.tolist()
        idx = rng.integers(0, universe, size=(resamples, m))
        # std across resampled validation sets, one value per checkpoint (epoch)
        per_epoch = np.array([losses[t][idx].mean(axis=1).std(ddof=1) for t in range(len(losses))])
        spread[key] = per_epoch.tolist()
        analytic[key] = (losses.std(axis=1, ddof=1) / math.sqrt(m)).tolist()
        summary = _summary(curve)
        table[f"val {m}"] = {"runs": 1, "spikes_total": summary["count"],
                             "spikes_per_run": float(summary["count"]),
                             "max_height": summary["max_height"],
                             "spread_mean": float(per_epoch.mean()),
                             "final_val_loss": float(curve[-1])}
    return {"settings": {**s, "universe": universe, "resamples": resamples, "pool_seed": 10_000},
            "sizes": sizes, "history": run["history"], "curves": curves,
            "pool_curve": losses.mean(axis=1).tolist(), "spread": spread,
            "spread_analytic": analytic, "table": table,
            "spread_mean": {str(m): float(np.mean(spread[str(m)])) for m in sizes},
            "seconds": run["seconds"]}


def batchnorm_dropout(quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """Experiment 3: BatchNorm's train/inference mismatch and dropout. Settings: the seed's
    network (BN momentum 0.99, dropout on); BN momentum 0.9 (moving statistics that follow
    the weights faster); dropout off. Spikes are counted on the validation loss in inference
    mode (as Keras reports it) and, for every run, on the same validation images scored with
    batch statistics (``val_loss_batch_stats``): if spikes come from stale moving statistics,
    the batch-statistics curve has fewer."""
    s = _settings(quick, **overrides)
    configs = {"BN momentum 0.99, dropout (seed)": {},
               "BN momentum 0.9, dropout": {"bn_momentum": 0.9},
               "BN momentum 0.99, no dropout": {"dropout": False}}
    rows, curves = {}, {}
    for label, cfg in configs.items():
        runs = [experiment_run(s, seed, **cfg) for seed in range(s["seeds"])]
        rows[label] = _row(runs)
        rows[label + " — val with batch statistics"] = _row(runs, "val_loss_batch_stats")
        r0 = runs[0]
        curves[label] = {"loss": r0["history"]["loss"], "val_loss": r0["history"]["val_loss"],
                         "val_loss_batch_stats": r0["extra"]["val_loss_batch_stats"],
                         "train_loss_inference": r0["extra"]["train_loss_inference"],
                         "spike_epochs": r0["spikes"]["epochs"]}
    return {"settings": s, "table": rows, "curves": curves}


def batchnorm_seed_setting(quick: bool = False, bn_momentum: float = 0.99, seed: int = 0,
                           **overrides: Any) -> dict[str, Any]:
    """Experiment 3 at the seed's own setting (8000 images 32x32x3, 100 epochs; ``quick``:
    the ``QUICK`` sizes): one run whose every epoch is scored four ways — the training loss
    as Keras prints it (training mode, averaged over the epoch), the training set in
    inference mode, the validation loss as Keras prints it (inference mode: BatchNorm moving
    statistics) and the validation set with BatchNorm batch statistics — with the spikes of
    each curve. Same seed, same weights as :func:`reproduce_cnn` (the extra scores touch
    neither the weights, the moving statistics nor any random stream)."""
    s = dict(QUICK if quick else SEED)
    s.update(overrides)
    data = make_data(s["n"], s["size"], seed, s["difficulty"], s["validation_fraction"])
    run = train_seed_run(n=s["n"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                         size=s["size"], difficulty=s["difficulty"], seed=seed, verbose=0,
                         bn_momentum=bn_momentum, validation_fraction=s["validation_fraction"],
                         data=data, extra=standard_extra(*data[0], *data[1]))
    curves = {"loss": run["history"]["loss"],
              "train_loss_inference": run["extra"]["train_loss_inference"],
              "val_loss": run["history"]["val_loss"],
              "val_loss_batch_stats": run["extra"]["val_loss_batch_stats"]}
    table = {}
    for key, label in (("loss", "train, training mode (Keras 'loss')"),
                       ("train_loss_inference", "train, inference mode"),
                       ("val_loss", "val, inference mode (Keras 'val_loss')"),
                       ("val_loss_batch_stats", "val, BN batch statistics")):
        summary = _summary(curves[key])
        table[f"{label}, BN momentum {bn_momentum:g}"] = {
            "runs": 1, "curve": key, "spikes": [summary["count"]],
            "spikes_total": summary["count"], "spikes_per_run": float(summary["count"]),
            "max_height": summary["max_height"], "epochs": summary["epochs"],
            "diverged_at": [summary["diverged_at"]],
            "final_val_accuracy": run["final"]["val_accuracy"]}
    return {"settings": {**s, "bn_momentum": bn_momentum, "seed": seed}, "curves": curves,
            "history": run["history"], "table": table, "seconds": run["seconds"]}


def step_size(quick: bool = False, lrs: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
              **overrides: Any) -> dict[str, Any]:
    """Experiment 4: the seed's run at lr 1e-4, 1e-3, 1e-2 and 1e-1 (Adam, batch 32):
    overshoot spikes grow with the step; inf/NaN (divergence) is reported separately."""
    s = _settings(quick, **overrides)
    rows, curves = {}, {}
    for lr in lrs:
        runs = [experiment_run(s, seed, lr=lr) for seed in range(s["seeds"])]
        label = f"lr {lr:g}"
        rows[label] = _row(runs)
        rows[label]["train_spikes_total"] = int(sum(_summary(r["history"]["loss"])["count"]
                                                    for r in runs))
        curves[label] = {"loss": runs[0]["history"]["loss"],
                         "val_loss": runs[0]["history"]["val_loss"],
                         "spike_epochs": runs[0]["spikes"]["epochs"], "lr": lr}
    return {"settings": s, "table": rows, "curves": curves}


def spike_table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table of the spike counts: one row per (experiment, setting)."""
    lines = ["| experiment | setting | curve | runs | spikes (per run) | max height | "
             "diverged runs | final val acc |",
             "|---|---|---|---|---|---|---|---|"]
    for experiment, result in results.items():
        for setting, row in result["table"].items():
            diverged = sum(d is not None for d in row.get("diverged_at", []))
            acc = row.get("final_val_accuracy")
            lines.append(f"| {experiment} | {setting} | {row.get('curve', 'val_loss')} | "
                         f"{row['runs']} | {row['spikes_total']} ({row['spikes_per_run']:.2f}) | "
                         f"{row['max_height']:.2f} | "
                         f"{diverged if 'diverged_at' in row else '-'} | "
                         f"{'-' if acc is None else f'{acc:.3f}'} |")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if k != "model"}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return _io.json_value(value)


def save_results(path: str | os.PathLike, results: dict[str, Any]) -> None:
    """Write results atomically as strict JSON (inf/NaN as ``null``, models dropped)."""
    _io.save_json(path, _jsonable(results))


def linear_baseline(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                    steps: int = 300, lr: float = 0.5, l2: float = 1e-3) -> dict[str, float]:
    """A linear classifier on the raw pixels, the yardstick the CNN must beat: softmax
    regression ``p = softmax(z W + b)`` on standardised pixels ``z`` (``(m, d)``, d = H*W*C),
    full-batch gradient descent on ``mean CE + l2/2 ||W||^2`` for ``steps`` steps. Returns
    train/validation accuracy and loss (float64)."""
    steps = _validate.integer("steps", steps, minimum=1)
    a = np.asarray(x, np.float64).reshape(len(x), -1)
    mu, sd = a.mean(axis=0), a.std(axis=0) + 1e-8
    z = (a - mu) / sd
    zv = (np.asarray(x_val, np.float64).reshape(len(x_val), -1) - mu) / sd
    t, tv = np.asarray(y, np.float64), np.asarray(y_val, np.float64)
    w = np.zeros((z.shape[1], t.shape[1]))
    b = np.zeros(t.shape[1])

    def probs(features: np.ndarray) -> np.ndarray:
        logits = features @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    for _ in range(steps):
        d = (probs(z) - t) / len(z)
        w -= lr * (z.T @ d + l2 * w)
        b -= lr * d.sum(axis=0)

    def score(features, targets):
        p = probs(features)
        return (float(np.mean(p.argmax(1) == targets.argmax(1))),
                float(-np.mean(np.sum(targets * np.log(np.clip(p, 1e-7, 1)), axis=1))))
    (acc, loss), (val_acc, val_loss) = score(z, t), score(zv, tv)
    return {"accuracy": acc, "loss": loss, "val_accuracy": val_acc, "val_loss": val_loss}


#: Experiment name -> (function, README row label).
EXPERIMENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "minibatch noise": minibatch_noise, "validation sample size": validation_size,
    "BatchNorm / dropout": batchnorm_dropout, "BatchNorm, seed setting": batchnorm_seed_setting,
    "step size": step_size}


def results_payload(results: dict[str, dict[str, Any]],
                    full_run: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``figures/cnn_results.json`` holds: the spike rule, each experiment's settings
    and table (plus the gradient-noise fit and validation spreads), the markdown table, and
    the seed-setting run's summary (time, final metrics, spikes) if given."""
    payload: dict[str, Any] = {"spike_rule": SPIKE_RULE, "experiment_setting": EXPERIMENT,
                               "seed_setting": SEED, "experiments": {}}
    for name, r in results.items():
        entry = {"settings": r["settings"], "table": r["table"]}
        if "gradient_noise" in r:
            entry["gradient_noise"] = r["gradient_noise"]
        if "spread_mean" in r:
            entry["spread_mean"] = r["spread_mean"]
            entry["spread_analytic_mean"] = {k: float(np.mean(v))
                                             for k, v in r["spread_analytic"].items()}
        if "experiment_seconds" in r:
            entry["seconds"] = r["experiment_seconds"]
        payload["experiments"][name] = entry
    payload["markdown_table"] = spike_table(results)
    payload["numerics"] = numerics.record()
    if full_run is not None:
        payload["full_run"] = {k: full_run[k] for k in ("settings", "seconds", "images_per_second",
                                                        "final", "spikes", "train_spikes")
                               if k in full_run}
    return _jsonable(payload)
