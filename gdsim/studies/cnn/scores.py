"""Two ways to score a checkpoint of the seed CNN, the two halves of the train/val mismatch.

* :func:`per_sample_loss`: inference mode, as Keras's ``val_loss`` — BatchNorm normalises with
  its moving statistics, dropout is off;
* :func:`batch_statistics_loss`: BatchNorm normalises each batch with the batch's own mean and
  variance (as during ``fit``), dropout still off — the loss the training curve would show for
  these images, minus dropout.

Neither changes the model: weights, moving statistics and random streams are left as they are.
"""

from __future__ import annotations

import numpy as np

from gdsim._overflow import overflow_is_data
from gdsim.nn.losses import CategoricalCrossentropy

__all__ = ["per_sample_loss", "batch_statistics_loss"]

_CE = CategoricalCrossentropy()


def per_sample_loss(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Cross-entropy of every sample in inference mode, ``(m,)`` float64. Its mean is
    ``model.evaluate(x, y)`` (up to float32 summation order)."""
    p = model.predict(x, batch_size=batch_size)
    return np.asarray(_CE.per_sample(y, p), dtype=np.float64)


def batch_statistics_loss(model, x: np.ndarray, y: np.ndarray, batch_size: int = 32) -> float:
    """Mean cross-entropy over ``x`` with BatchNorm batch statistics, batches of ``batch_size``
    in order: ``(1/m) sum_batches sum_{i in batch} l_i`` (each batch's float32 sum, added in
    float64)."""
    p = model.predict(x, batch_size=batch_size, batch_statistics=True)
    total = 0.0
    with overflow_is_data():
        for start in range(0, len(x), batch_size):
            batch = slice(start, start + batch_size)
            total += float(np.sum(_CE.per_sample(y[batch], p[batch])))
    return total / len(x)
