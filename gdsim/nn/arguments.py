"""Parsers for the arguments of gdsim's layers (one place; each raises a one-line error naming
the argument and what was expected)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from gdsim import _validate


def normalize_data_format(value: str | None) -> str:
    """``None`` -> ``"channels_last"`` (Keras's default image_data_format), else checked."""
    if value is None:
        return "channels_last"
    return _validate.choice("data_format", value, ["channels_last", "channels_first"])


def _listed(value: Any) -> Any:
    """A 1-d integer array as a list (``input_shape=np.array([28, 28])``); anything else as
    given, for the checks to judge (a 0-d array, bytes or a bytearray is no shape)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.tolist()
    return value


def shape_tuple(name: str, value: Any, *, allow_none: bool = True) -> tuple[int, ...] | None:
    """A tuple of positive ints (an int ``n`` means ``(n,)``); ``None`` passes when allowed."""
    if value is None and allow_none:
        return None
    return _validate.shape_tuple(name, _listed(value))


def pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of positive ints (Keras's ``standardize_tuple``)."""
    value = _listed(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TypeError(f"{name} must be a positive int or a pair of positive ints, got {_validate.show(value)}")
    return (_validate.integer(f"{name}[0]", value[0], minimum=1),
            _validate.integer(f"{name}[1]", value[1], minimum=1))


def padding_mode(value: Any) -> str:
    """``"valid"`` or ``"same"``; Keras lower-cases padding (``"SAME"`` works there too)."""
    if isinstance(value, str):
        value = value.lower()
    return _validate.choice("padding", value, ["valid", "same"])


def noise_shape(value: Any) -> tuple[int | None, ...] | None:
    """Dropout's ``noise_shape``: ``None`` or a tuple of positive ints and ``None``s."""
    if value is None:
        return None
    value = _listed(value)
    if not isinstance(value, (list, tuple)):  # not a str, bytes, bytearray or 0-d array
        raise TypeError(f"noise_shape must be a tuple of ints or None, got {_validate.show(value)}")
    if not value:
        raise ValueError("noise_shape must have the batch axis and the sample axes, got ()")
    return tuple(None if d is None else _validate.integer(f"noise_shape[{i}]", d, minimum=1)
                 for i, d in enumerate(value))
