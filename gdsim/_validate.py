"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the argument,
shows the value received and says what was expected, e.g.::

    ValueError: learning_rate must be > 0, got -0.1

They return the (possibly converted) value so they can be used inline.
"""

from __future__ import annotations

import difflib
import numbers
from typing import Any, Iterable, Sequence

import numpy as np


def show(value: Any) -> str:
    """A short one-line repr: error messages stay on one line (the CLI prints exactly one)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def real(name: str, value: Any) -> float:
    """A finite or non-finite real scalar (bools are rejected: ``True`` is not a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {show(value)} of type {type(value).__name__}")
    return float(value)


def finite(name: str, value: Any) -> float:
    value = real(name, value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def positive(name: str, value: Any) -> float:
    """A finite real > 0."""
    value = finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def nonnegative(name: str, value: Any) -> float:
    value = finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def in_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
             high_open: bool = True) -> float:
    """A finite real in the interval given; the brackets in the message show which ends are open."""
    value = finite(name, value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    """A Python or NumPy integer (not a bool, not a float), optionally >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {show(value)} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {show(value)}")
    return bool(value)


def choice(name: str, value: Any, options: Iterable[str]) -> str:
    """One of ``options``; the error lists them all and suggests the closest match."""
    options = list(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {options}, got {show(value)}")
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {name} {show(value)}{hint}; expected one of {options}")
    return value


def float_dtype(name: str, value: Any) -> np.dtype:
    """``float32`` or ``float64`` given as a string, a NumPy type or a dtype."""
    try:
        dtype = np.dtype(value)
    except (TypeError, SyntaxError, ValueError):  # np.dtype(",") parses a comma string: SyntaxError
        raise TypeError(f"{name} must be 'float32' or 'float64', got {show(value)}") from None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dtype}")
    return dtype


def array(name: str, value: Any, *, dtype: Any = None, ndim: int | Sequence[int] | None = None,
          allow_empty: bool = False, require_finite: bool = True) -> np.ndarray:
    """A numeric array, optionally of the given rank(s), non-empty and finite."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {show(value)}")
    try:
        result = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {show(value)} ({exc})") from None
    if result.dtype == object or not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {result.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if result.ndim not in allowed:
            ranks = " or ".join(str(r) for r in allowed)
            raise ValueError(f"{name} must have rank {ranks}, got shape {result.shape}")
    if not allow_empty and result.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {result.shape}")
    if require_finite and np.issubdtype(result.dtype, np.floating) and not np.all(np.isfinite(result)):
        bad = int(np.size(result) - np.count_nonzero(np.isfinite(result)))
        raise ValueError(f"{name} must be finite, got {bad} inf/NaN value(s)")
    return result


def shape(name: str, value: np.ndarray, expected: Sequence[int | None]) -> np.ndarray:
    """``value.shape`` must equal ``expected`` where ``expected`` is not None."""
    ok = value.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, value.shape))
    if not ok:
        shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {shown}, got {value.shape}")
    return value


def seed(name: str, value: Any) -> np.random.SeedSequence:
    """``None`` (fresh OS entropy), an int >= 0, a SeedSequence, or a Generator (its seed sequence)."""
    if value is None or isinstance(value, np.random.SeedSequence):
        return value if value is not None else np.random.SeedSequence()
    if isinstance(value, np.random.Generator):
        return value.bit_generator.seed_seq
    return np.random.SeedSequence(integer(name, value, minimum=0))
