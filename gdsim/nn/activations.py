"""Element-wise and softmax activations with hand-written derivatives (Keras 3 names).

Every activation here has a backward pass that needs only its *output* ``y``, so a layer
caches ``y`` (which it returns anyway) and nothing else:

=========  ===========================================  ==================================
name       forward ``y = f(x)``                          backward ``dL/dx`` from ``g = dL/dy``
=========  ===========================================  ==================================
linear     ``x``                                         ``g``
relu       ``max(x, 0)`` (``keras.activations.relu``)    ``g * [y > 0]`` (0 at x = 0, as JAX)
sigmoid    ``1 / (1 + exp(-x))``                          ``g * y * (1 - y)``
tanh       ``tanh(x)``                                    ``g * (1 - y**2)``
softmax    ``exp(x - max x) / sum exp(x - max x)``        ``y * (g - sum(g * y))``
           over the last axis (``keras.activations.softmax``, ``axis=-1``)
=========  ===========================================  ==================================

``forward(x, out=...)`` may write into ``out`` (pass ``out=x`` to work in place when the
caller owns ``x``); ``backward(y, g, out=...)`` likewise may overwrite ``g``'s buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gdsim import _validate

Forward = Callable[..., np.ndarray]
Backward = Callable[..., np.ndarray]


def _linear(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None or out is x:
        return x
    np.copyto(out, x)
    return out


def _linear_grad(y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return g


def all_finite(a: np.ndarray) -> bool:
    """No inf/NaN in ``a`` (max and min are fast SIMD reductions, and NaN propagates through them)."""
    return a.size == 0 or bool(np.isfinite(a.max()) and np.isfinite(a.min()))


_ZERO_ROWS: dict[tuple[int, np.dtype], np.ndarray] = {}
_ROW = 16384  # elements; 64 KiB of float32 zeros stays in L2


def _zero_row(size: int, dtype: np.dtype) -> np.ndarray | None:
    """A cached read-only zero row whose length divides ``size`` (``None`` if only a short one does).

    ``np.maximum(x, 0)`` with a scalar 0 takes NumPy's slow scalar-broadcast loop (slower
    than a binary loop on a 32768 x 16 float32 array); the same maximum against a broadcast
    row of zeros runs the contiguous SIMD loop. Same ufunc, same bits (NaN propagation too).
    """
    width = math.gcd(size, _ROW)
    if width < 1024:
        return None
    key = (width, np.dtype(dtype))
    row = _ZERO_ROWS.get(key)
    if row is None:
        row = np.zeros(width, dtype=dtype)
        row.flags.writeable = False
        _ZERO_ROWS[key] = row
    return row


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    row = _zero_row(x.size, x.dtype) if x.flags.c_contiguous else None
    if row is None or (out is not None and not out.flags.c_contiguous) or x.dtype.kind != "f":
        return np.maximum(x, 0, out=out) if out is not None else np.maximum(x, 0)
    if out is None:
        out = np.empty_like(x)
    np.maximum(x.reshape(-1, row.size), row, out=out.reshape(-1, row.size))
    return out


def _relu_grad(y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # Keras (JAX backend) *selects*: relu'(0) = 0 and a dead unit passes 0 even when g is
    # inf/NaN. Multiplying by the mask is much faster than np.where and identical for finite g
    # (up to the sign of zero); the select path runs only when g holds inf/NaN.
    if not all_finite(g):
        result = np.where(y > 0, g, np.zeros((), g.dtype))
        if out is not None:
            np.copyto(out, result)
            return out
        return result
    return np.multiply(g, y > 0, out=out)


def _sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # exp(-logaddexp(0, -x)) = 1 / (1 + exp(-x)) without overflow warnings for x << 0.
    result = np.logaddexp(0, -x, out=out)
    np.negative(result, out=result)
    return np.exp(result, out=result)


def _sigmoid_grad(y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.multiply(g, y * (1 - y), out=out)


def _tanh(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(x, out=out)


def _tanh_grad(y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.multiply(g, 1 - y * y, out=out)


def _softmax(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    shifted = np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def _softmax_grad(y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    inner = np.sum(g * y, axis=-1, keepdims=True)
    result = np.subtract(g, inner, out=out)
    result *= y
    return result


@dataclass(frozen=True)
class ActivationFn:
    """An activation: ``forward(x, out=None) -> y`` and ``backward(y, g, out=None) -> dL/dx``."""

    name: str
    forward: Forward
    backward: Backward

    @property
    def reads_output(self) -> bool:
        """Whether ``backward`` needs the forward output ``y`` (every activation but linear)."""
        return self.name != "linear"


_REGISTRY: dict[str, ActivationFn] = {
    "linear": ActivationFn("linear", _linear, _linear_grad),
    "relu": ActivationFn("relu", _relu, _relu_grad),
    "sigmoid": ActivationFn("sigmoid", _sigmoid, _sigmoid_grad),
    "tanh": ActivationFn("tanh", _tanh, _tanh_grad),
    "softmax": ActivationFn("softmax", _softmax, _softmax_grad),
}


def get(identifier: str | ActivationFn | None) -> ActivationFn:
    """Look up an activation by Keras name; ``None`` means ``"linear"`` (as in Keras)."""
    if identifier is None:
        return _REGISTRY["linear"]
    if isinstance(identifier, ActivationFn):
        return identifier
    return _REGISTRY[_validate.choice("activation", identifier, _REGISTRY)]


def names() -> list[str]:
    return list(_REGISTRY)
