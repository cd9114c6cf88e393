"""Per-sample metrics for ``compile(metrics=[...])``, resolved as Keras resolves "accuracy".

Each metric maps ``(y_true, y_pred)`` of a batch to one value per sample; ``fit`` averages
them over the epoch's samples (Keras's ``MeanMetricWrapper``).
"""

from __future__ import annotations

import numpy as np

from gdsim import _validate


class Metric:
    name = "metric"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class CategoricalAccuracy(Metric):
    """1 where ``argmax(y_pred) == argmax(y_true)`` (one-hot labels), else 0."""

    def __init__(self, name: str = "accuracy") -> None:
        self.name = name

    def __call__(self, y_true, y_pred):
        return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(y_pred.dtype)


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """1 where ``argmax(y_pred)`` equals the integer label, else 0."""

    def __call__(self, y_true, y_pred):
        labels = y_true.reshape(len(y_true), -1)[:, 0]
        return (labels == np.argmax(y_pred, axis=-1)).astype(y_pred.dtype)


class BinaryAccuracy(CategoricalAccuracy):
    """Mean over the last axis of ``(y_pred > 0.5) == y_true`` (Keras's threshold 0.5)."""

    def __call__(self, y_true, y_pred):
        y_true = y_true.reshape(y_pred.shape)
        hits = (y_pred > 0.5).astype(y_pred.dtype) == y_true
        return hits.reshape(len(y_pred), -1).mean(axis=-1, dtype=y_pred.dtype)


def get(identifier, loss=None) -> Metric:
    """``"accuracy"``/``"acc"`` picks the accuracy that fits the loss, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    name = _validate.choice("metric", identifier, ["accuracy", "acc", "categorical_accuracy",
                                                   "sparse_categorical_accuracy", "binary_accuracy"])
    loss_name = getattr(loss, "name", "")
    if name in ("accuracy", "acc"):
        if "sparse" in loss_name:
            return SparseCategoricalAccuracy(name)
        if "binary" in loss_name:
            return BinaryAccuracy(name)
        return CategoricalAccuracy(name)
    return {"categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy}[name](name)
