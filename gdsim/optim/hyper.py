"""Hyper-parameters: validated once, then cast to each parameter's dtype and runs axes.

A hyper-parameter is a real scalar or an array of shape ``S`` over the leading "runs" axes of
every parameter (``S + rest``); :func:`cast` gives it the parameter's dtype and appends
singleton axes so it broadcasts, which makes each run's arithmetic identical to running it
alone.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Union

import numpy as np

from gdsim import _validate

Hyper = Union[float, np.ndarray]


def hyper(name: str, value: Any, check: Callable[[str, float], Any]) -> Hyper:
    """Validate a hyper-parameter: a real scalar (returned as float) or an array whose every
    element passes ``check`` (returned as a read-only float64 array)."""
    if not isinstance(value, np.ndarray) and (isinstance(value, (numbers.Number, np.generic))
                                              or np.ndim(value) == 0):
        # _validate.real refuses bools, complex numbers (NumPy's too), types, and ints too big
        # for a float: SGD(True), SGD(0.1 + 5j), SGD(float), SGD(10**400) are errors.
        return check(name, _validate.real(name, value))
    if np.asarray(value).dtype.kind == "b":
        raise TypeError(f"{name} must be real numbers, got a bool array")
    arr = _validate.array(name, value, dtype=np.float64)
    if arr.ndim == 0:
        return check(name, float(arr))
    for x in np.unique(arr):  # unique keeps the check cheap for big sweeps of few values
        check(name, float(x))
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def unit(name: str, value: float) -> float:
    """``value`` in [0, 1]."""
    return _validate.in_range(name, value, 0.0, 1.0, high_open=False)


def unit_open(name: str, value: float) -> float:
    """``value`` in [0, 1)."""
    return _validate.in_range(name, value, 0.0, 1.0)


def optional_positive(name: str, value: Any) -> float | None:
    return None if value is None else _validate.positive(name, value)


def runs_shaped(name: str, h: Hyper, like: np.ndarray) -> Any:
    """``h`` (float64) shaped to broadcast over ``like``'s leading axes; a scalar stays a float."""
    if not isinstance(h, np.ndarray):
        return h
    lead = like.shape[:h.ndim]
    if h.ndim > like.ndim or any(a != b and a != 1 for a, b in zip(h.shape, lead)):
        raise ValueError(f"{name} has shape {h.shape}, which is not a prefix of the parameter "
                         f"shape {like.shape}: an array hyper-parameter's axes must be the "
                         f"leading 'runs' axes of every parameter (size 1 broadcasts)")
    return h.reshape(h.shape + (1,) * (like.ndim - h.ndim))


def cast(name: str, h: Hyper, like: np.ndarray) -> Any:
    """``h`` in ``like``'s dtype, shaped to broadcast over ``like``'s leading axes."""
    shaped = runs_shaped(name, h, like)
    if isinstance(shaped, np.ndarray):
        return shaped.astype(like.dtype, copy=False)
    return like.dtype.type(shaped)


def one_minus(h: Hyper) -> Hyper:
    """``1 - h`` in double precision (as Keras's Python scalar ``1 - beta`` is formed)."""
    return 1.0 - h if isinstance(h, np.ndarray) else 1.0 - float(h)


def power(base: Any, exponent: Any) -> Any:
    """``base ** exponent`` always through NumPy's array loop: on a NumPy scalar ``np.power``
    takes a scalar-math path that can differ in the last bit from the (SIMD) array loop, which
    would make a run with a scalar beta differ from the same run inside a beta sweep."""
    out = np.power(np.atleast_1d(base), exponent)
    return out[0] if np.ndim(base) == 0 else out


def show(h: Any) -> str:
    if isinstance(h, np.ndarray):
        return f"array(shape={h.shape}, min={h.min():.4g}, max={h.max():.4g})"
    return repr(h)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    return a == b


def meet(x: Any, like: np.ndarray) -> Any:
    """A double-precision coefficient where it meets a tensor of ``like``'s dtype: PyTorch
    forms scalar coefficients (bias corrections, ``1 - beta``, ``lr / bc``) as Python floats
    and casts them to the tensor's dtype only there."""
    if isinstance(x, np.ndarray):
        return x.astype(like.dtype, copy=False)
    return like.dtype.type(x)
