"""Experiment 3: BatchNorm and dropout. Moving statistics vs batch statistics, BN momentum 0.9 vs
0.99, dropout on vs off (reduced setting, several seeds), and the seed's own setting scored
four ways every epoch."""

from __future__ import annotations

from typing import Any

from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.experiment import experiment_run, spike_row, standard_extra
from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.cnn.settings import QUICK, SEED, experiment_settings, spike_summary

__all__ = ["batchnorm_dropout", "batchnorm_seed_setting"]


def batchnorm_dropout(quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """Experiment 3: BatchNorm's train/inference mismatch and dropout. Settings: the seed's
    network (BN momentum 0.99, dropout on); BN momentum 0.9 (moving statistics that follow
    the weights faster); dropout off. Spikes are counted on the validation loss in inference
    mode (as Keras reports it) and, for every run, on the same validation images scored with
    batch statistics (``val_loss_batch_stats``): if spikes come from stale moving statistics,
    the batch-statistics curve has fewer."""
    s = experiment_settings(quick, **overrides)
    configs = {"BN momentum 0.99, dropout (seed)": {},
               "BN momentum 0.9, dropout": {"bn_momentum": 0.9},
               "BN momentum 0.99, no dropout": {"dropout": False}}
    rows, curves = {}, {}
    for label, cfg in configs.items():
        runs = [experiment_run(s, seed, **cfg) for seed in range(s["seeds"])]
        rows[label] = spike_row(runs)
        rows[label + " — val with batch statistics"] = spike_row(runs, "val_loss_batch_stats")
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
        summary = spike_summary(curves[key])
        table[f"{label}, BN momentum {bn_momentum:g}"] = {
            "runs": 1, "curve": key, "spikes": [summary["count"]],
            "spikes_total": summary["count"], "spikes_per_run": float(summary["count"]),
            "max_height": summary["max_height"], "epochs": summary["epochs"],
            "diverged_at": [summary["diverged_at"]],
            "final_val_accuracy": run["final"]["val_accuracy"]}
    return {"settings": {**s, "bn_momentum": bn_momentum, "seed": seed}, "curves": curves,
            "history": run["history"], "table": table, "seconds": run["seconds"]}
