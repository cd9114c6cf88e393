"""``gdsim reproduce cnn``: the seed's run at the seed's settings, its curves and history files."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gdsim import _io, _validate, numerics
from gdsim.studies.cnn.data import check_size
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.cnn.settings import SEED, SPIKE_RULE, short

__all__ = ["reproduce_cnn", "curves_figure", "history_csv"]


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
        decay = f", decay {short(s['decay'])}" if s.get("decay") else ""
        plots.labels(ax, "Epoch #", "Loss / Accuracy", title or (
            f"Training loss and accuracy (seed CNN)\n{s['n']} images {s['size']}x{s['size']}x3, "
            f"Adam lr {short(s['lr'])}{decay}, batch {s['batch_size']}, {len(epochs)} epochs"))
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

    # every size is checked before out_dir is created: a refused run leaves nothing behind
    n = _validate.integer("n", n, minimum=8)
    check_size(n, size, 3)
    _validate.integer("epochs", epochs, minimum=1)
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
