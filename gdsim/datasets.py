"""Generic data helpers (the seed questions' own data live in :mod:`gdsim.studies`).

``train_validation_split``
    Keras ``fit(validation_split=...)``: the LAST fraction of the arrays, no shuffle.

Everything is a pure function of its arguments: same input, identical bits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdsim import _validate

__all__ = ["train_validation_split"]


def train_validation_split(x: Any, y: Any, validation_fraction: float = 0.25
                           ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras ``fit(validation_split=f)``: the last ``f`` of the samples, in order, no shuffle.

    ``split = floor(N * (1 - f))`` (the same float expression as Keras's
    ``keras/src/trainers/data_adapters/array_slicing.py::train_validation_split``);
    train = ``[:split]``, validation = ``[split:]``. Like Keras it raises when either part
    would be empty. x: ``(N, ...)``, y: ``(N, ...)``. The seed's own script used sklearn's
    ``train_test_split(test_size=0.25)`` (shuffled, ``ceil(0.25 N)`` test samples); for the
    already-shuffled ``gdsim.studies.cnn.data.real_fake_images`` the last quarter is an equally random split, and
    the Keras rule is what ``gdsim.nn`` ``fit(validation_split=...)`` must reproduce.
    """
    fraction = _validate.in_range("validation_fraction", validation_fraction, 0.0, 1.0,
                                  low_open=True, high_open=True)
    x = _validate.array("x", x, require_finite=False)
    y = _validate.array("y", y, require_finite=False)
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples (first axis), "
                         f"got shapes {x.shape} and {y.shape}")
    total = x.shape[0]
    split = int(math.floor(total * (1.0 - fraction)))
    if split == 0 or split == total:
        raise ValueError(f"{total} samples cannot be split into non-empty training and "
                         f"validation sets with validation_fraction={fraction}")
    return (x[:split], y[:split]), (x[split:], y[split:])
