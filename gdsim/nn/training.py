"""The definition of training: this is what :meth:`Sequential.fit <gdsim.nn.model.Sequential.fit>`
computes.

One training step (Keras's ``train_step``) on a batch ``(x, y)``::

    prediction = forward(layers, x, training=True)      # the *current* weights
    loss, grad = loss_fn.value_and_grad(y, prediction)   # L_b and dL/dprediction
    backward(layers, grad)                               # every layer sets layer.grads
    params, state = optimizer.step(params, grads, state) # one update, then install params

One epoch: the batches in the epoch's order, one step each, and Keras's ``Mean`` trackers
for the reported loss and metrics: ``total += fl(n_b * L_b)``, ``count += n_b``, reported
``total / count``, both kept in the model's dtype.

``engine="reference"`` runs exactly these functions; ``engine="fast"`` (:mod:`gdsim.nn.fast`)
computes the same bits with the same :mod:`gdsim.nn.ops` kernels, faster (the tests in
``tests/test_engines.py`` check it).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from gdsim.nn.layers import BatchNormalization, Layer


def forward(layers: Sequence[Layer], x: np.ndarray, training: bool,
            batch_statistics: bool = False) -> np.ndarray:
    """The network's output; ``batch_statistics`` makes BatchNormalization normalize with the
    batch's statistics in inference mode too."""
    for layer in layers:
        if batch_statistics and isinstance(layer, BatchNormalization):
            x = layer.forward(x, training=training, batch_statistics=True)
        else:
            x = layer.forward(x, training=training)
    return x


def backward(layers: Sequence[Layer], grad: np.ndarray) -> None:
    """Back-propagate ``grad = dL/dprediction``: every layer sets its ``grads``."""
    for layer in reversed(layers):
        grad = layer.backward(grad)


def install(layers: Sequence[Layer], params: Sequence[np.ndarray]) -> None:
    """Hand the optimizer's new weights back to their layers (model.trainable_weights order)."""
    start = 0
    for layer in layers:
        count = len(layer.trainable_weights)
        layer.set_trainable_weights(params[start:start + count])
        start += count


def train_step(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Keras train_step: the loss at the current weights, then one optimizer update.
    Returns the batch loss and the prediction it was computed from."""
    prediction = forward(model.layers, x, training=True)
    loss, grad = model.loss.value_and_grad(y, prediction)
    backward(model.layers, grad)
    layers = model.trainable_layers
    params = [w for layer in layers for w in layer.trainable_weights]
    grads = [g for layer in layers for g in layer.grads]
    params, model.optimizer_state = model.optimizer.step(params, grads, model.optimizer_state)
    install(layers, params)
    return loss, prediction


class MeanTrackers:
    """Keras's ``Mean`` trackers of the loss and each metric, in the model's dtype."""

    def __init__(self, model: Any) -> None:
        self.model = model
        zero = model.dtype.type(0)
        self.totals = {"loss": [zero, zero], **{m.name: [zero, zero] for m in model.metrics}}

    def update(self, loss: np.ndarray, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        """``total += fl(n * L)``, ``count += n``; returns every ``total / count``."""
        dtype = self.model.dtype
        n = dtype.type(len(y))
        self.totals["loss"][0] = self.totals["loss"][0] + loss * n
        self.totals["loss"][1] = self.totals["loss"][1] + n
        for metric in self.model.metrics:
            values = metric(y, prediction)
            self.totals[metric.name][0] = self.totals[metric.name][0] + values.sum(dtype=dtype)
            self.totals[metric.name][1] = self.totals[metric.name][1] + n
        return {name: float(total / count) for name, (total, count) in self.totals.items()}


class ReferenceEngine:
    """Runs :func:`train_step` on plain batches ``x[index]`` and :func:`forward` for inference:
    the engine ``fit``, ``evaluate`` and ``predict`` are defined by."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def batch(self, x: np.ndarray, y: np.ndarray, batches: Sequence[Any], step: int
              ) -> tuple[np.ndarray, np.ndarray]:
        return x[batches[step]], y[batches[step]]

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return train_step(self.model, x, y)

    def infer(self, x: np.ndarray, batch_statistics: bool = False) -> np.ndarray:
        return forward(self.model.layers, x, training=False, batch_statistics=batch_statistics)

    def infer_batches(self, x: np.ndarray, batch_size: int, batch_statistics: bool = False
                      ) -> Iterator[tuple[int, np.ndarray]]:
        return infer_in_batches(self.infer, x, batch_size, batch_statistics)


def infer_in_batches(infer: Any, x: np.ndarray, batch_size: int, batch_statistics: bool
                     ) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, infer(x[start:start + batch_size], batch_statistics))`` for every batch, in
    order: the inference passes of ``predict`` and ``evaluate``."""
    for start in range(0, len(x), batch_size):
        yield start, infer(x[start:start + batch_size], batch_statistics)


def train_epoch(model: Any, engine: Any, x: np.ndarray, y: np.ndarray, batches: Sequence[Any],
                epoch: int, callbacks: Sequence[Any], bar: Any) -> dict[str, float]:
    """One epoch: a training step per batch, the running means, the callbacks' batch hooks."""
    for callback in callbacks:
        callback.on_epoch_begin(epoch)
    trackers = MeanTrackers(model)
    logs: dict[str, float] = {}
    for step in range(len(batches)):
        for callback in callbacks:
            callback.on_train_batch_begin(step)
        xb, yb = engine.batch(x, y, batches, step)
        loss, prediction = engine.train_step(xb, yb)
        logs = trackers.update(loss, yb, prediction)
        if bar is not None and step + 1 < len(batches):
            bar.update(step + 1, logs)
        for callback in callbacks:
            callback.on_train_batch_end(step, logs)
        if model.stop_training:
            break
    return logs


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int,
             batch_statistics: bool = False, engine: Any = None) -> dict[str, float]:
    """The loss and metrics in inference mode, batch by batch, in Keras's running means;
    ``engine.infer_batches`` computes the batches' predictions (default: :func:`forward`)."""
    engine = ReferenceEngine(model) if engine is None else engine
    trackers = MeanTrackers(model)
    logs: dict[str, float] = {}
    for start, prediction in engine.infer_batches(x, batch_size, batch_statistics):
        yb = y[start:start + len(prediction)]
        logs = trackers.update(model.loss(yb, prediction), yb, prediction)
    return logs
