"""Keras-style training callbacks: History, TerminateOnNaN, EarlyStopping.

A callback sees the same hooks, in the same order, as in Keras 3's ``fit``::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   per batch
      on_epoch_end(epoch, logs)        logs: loss, metrics, val_* of the epoch
    on_train_end(logs)

``epoch`` and ``batch`` are 0-based as in Keras. Setting ``model.stop_training = True``
stops training after the current batch (from a batch hook) or epoch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdsim import _validate


class Callback:
    """Base class: every hook does nothing. ``self.model`` is set by ``fit``."""

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"][k]`` is epoch k+1's loss.

    Also records where training left the finite range, as data (Keras keeps training through
    inf and NaN; so does gdsim): ``first_inf_epoch`` and ``first_nan_epoch`` are 1-based epoch
    numbers of the first reported loss that is +-inf / NaN, or None.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Keras keeps one History per model and appends across fit() calls; a fresh fit
        # here starts a fresh record, which is what a lecture figure wants.
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def _first_epoch(self, predicate) -> int | None:
        for epoch, value in zip(self.epoch, self.history.get("loss", [])):
            if predicate(value):
                return epoch + 1
        return None

    @property
    def first_inf_epoch(self) -> int | None:
        return self._first_epoch(math.isinf)

    @property
    def first_nan_epoch(self) -> int | None:
        return self._first_epoch(math.isnan)


class TerminateOnNaN(Callback):
    """Stops training at the end of the first batch whose running loss is NaN or inf (Keras name)."""

    def __init__(self, raise_error: bool = False) -> None:
        self.raise_error = _validate.boolean("raise_error", raise_error)
        self.stopped_batch: int | None = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}: loss = {loss}")
            self.stopped_batch = batch
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class EarlyStopping(Callback):
    """Stops when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (Keras's rule: after ``patience`` epochs without improvement, never after the first epoch).

    Improvement means a decrease for losses (``mode="min"``) and an increase for accuracies
    (``mode="max"``); ``mode="auto"`` picks "max" when the name contains "acc".
    With ``restore_best_weights`` the best epoch's weights are put back at the end.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a logged quantity (e.g. 'val_loss'), "
                            f"got {_validate.show(monitor)}")
        self.monitor = monitor
        self.min_delta = abs(_validate.finite("min_delta", min_delta))
        self.patience = _validate.integer("patience", patience, minimum=0)
        mode = _validate.choice("mode", mode, ["auto", "min", "max"])
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.restore_best_weights = _validate.boolean("restore_best_weights", restore_best_weights)
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = -np.inf if self.maximize else np.inf
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitor {self.monitor!r} is not among the logged "
                             f"quantities {sorted(logs)}")
        value = logs[self.monitor]
        # Keras's order: count the epoch, reset on improvement, stop once wait >= patience.
        self.wait += 1
        improved = (value > self.best + self.min_delta) if self.maximize else (value < self.best - self.min_delta)
        if improved:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch  # 0-based, as Keras's attribute
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
