"""The data of seed question 001 ("why does my loss increase every epoch?")."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate

__all__ = ["seed_regression"]


def seed_regression(n: int = 20, dtype: Any = "float32") -> tuple[np.ndarray, np.ndarray]:
    """The data of seed question 001: ``xs = 1.0, 2.0, ..., n`` and ``ys = xs / 2``.

    Returns ``xs, ys`` of shape ``(n,)``, the shape the seed passes to
    ``keras.Sequential([Dense(1, input_shape=[1])]).fit(xs, ys)``. With ``n=20`` and
    float32, Keras's default SGD (lr 0.01) diverges (inf near epoch 64); with ``n <= 10`` it
    converges — the curvature of the MSE, ``2*mean(x^2)``, grows with ``n``.
    """
    n = _validate.integer("n", n, minimum=1)
    dtype = _validate.float_dtype("dtype", dtype)
    # xs, ys and the few copies a fit makes (batches, predictions, gradients)
    _validate.memory("n", 8 * n * dtype.itemsize, f"{_validate.count(n)} samples")
    xs = np.arange(1, n + 1, dtype=dtype)
    return xs, xs / dtype.type(2)
