"""Parsers for the arguments of gdsim's layers (one place; each raises a one-line error naming
the argument and what was expected)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gdsim import _validate


def normalize_data_format(value: str | None) -> str:
    """``None`` -> ``"channels_last"`` (Keras's default image_data_format), else checked."""
    if value is None:
        return "channels_last"
    return _validate.choice("data_format", value, ["channels_last", "channels_first"])


def shape_tuple(name: str, value: Any, *, allow_none: bool = True) -> tuple[int, ...] | None:
    """A tuple of positive ints (an int ``n`` means ``(n,)``); ``None`` passes when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a tuple of positive integers, got {_validate.show(value)}")
    return tuple(_validate.integer(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


def pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of positive ints (Keras's ``standardize_tuple``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
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
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"noise_shape must be a tuple of ints or None, got {_validate.show(value)}")
    return tuple(None if d is None else _validate.integer(f"noise_shape[{i}]", d, minimum=1)
                 for i, d in enumerate(value))
