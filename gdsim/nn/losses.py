"""Losses with hand-written gradients, computing what Keras 3 computes (JAX/torch backends).

Every loss object ``loss`` offers

- ``loss(y_true, y_pred)`` -> 0-d array in ``y_pred``'s float dtype, with Keras's default
  ``"sum_over_batch_size"`` reduction: per-sample values ``l`` (the loss function reduces
  the last axis), then ``sum(l) / l.size`` (``keras.src.losses.loss.reduce_values``; a
  0-d ``l`` is returned as is);
- ``loss.grad(y_true, y_pred)`` -> ``dL/dy_pred`` of that scalar, shape of ``y_pred``;
- ``loss.value_and_grad(y_true, y_pred)`` -> both, sharing the work;
- ``loss.per_sample(y_true, y_pred)`` -> ``l`` before the reduction.

Before anything, ``y_true`` is cast to ``y_pred``'s dtype and the two are brought to the same
rank as Keras's ``squeeze_or_expand_to_same_rank`` does: if the ranks differ by one and the
longer one ends in 1, the shorter one gains a trailing axis when it is rank 1 (``(N,)``
with ``(N, 1)`` -> both ``(N, 1)``), otherwise the longer one loses it. So ``y_true (N,)`` and
``y_pred (N, 1)`` never broadcast to ``(N, N)``: with y = [1,2,3,4], p = [[1.5],[2.5],[2],[6]]
Keras (and gdsim) give 1.3125, not the broadcast 5.1875.

Crossentropies on probabilities follow Keras's JAX and torch backends (``from_logits=False``):
``p <- p / sum(p)`` (categorical), ``p <- clip(p, 1e-7, 1 - 1e-7)``, then the log. The
gradient is 0 where the clip is active (and 1/2 exactly on the clip boundary, as JAX's
``maximum``/``minimum`` split ties). **Keras on TensorFlow differs**: when ``y_pred`` is the
output of a softmax (or sigmoid) *layer*, TF recovers the logits and computes the exact
``-sum(y * log_softmax(z))`` with no clipping; the two agree unless some probability falls
below 1e-7 (a saturated net: logit gap 40 gives 40.0 on TF, 16.118 = -log(1e-7) on JAX). For
the exact behaviour use ``from_logits=True`` on the pre-softmax outputs, or ``clip=False``
(exact log of the probabilities, which is ``inf`` at p = 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _overflow
from gdsim import _validate

#: Keras's ``backend.epsilon()``: the crossentropy clip.
EPSILON = 1e-7

__all__ = ["Loss", "MeanSquaredError", "HalfMeanSquaredError", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "BinaryCrossentropy", "get", "squeeze_or_expand_to_same_rank", "EPSILON"]


def squeeze_or_expand_to_same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True
                                   ) -> tuple[np.ndarray, np.ndarray]:
    """Keras's rule: make ranks equal when they differ by one and the longer ends in 1."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _float_pred(y_pred: Any) -> np.ndarray:
    y_pred = _validate.array("y_pred", y_pred, require_finite=False)
    if y_pred.dtype not in (np.float32, np.float64):
        y_pred = y_pred.astype(np.float32)  # Keras's floatx
    return y_pred


class Loss:
    """Base class. Subclasses implement ``_values(t, p)`` -> per-sample ``l`` and
    ``_values_grad(t, p)`` -> ``dl/dp`` summed the way ``sum(l)`` needs (``t``, ``p`` already
    rank-matched and in ``p``'s dtype)."""

    name = "loss"
    #: whether y_true/y_pred go through squeeze_or_expand_to_same_rank (LossFunctionWrapper)
    _match_rank = True
    #: whether y_true must then broadcast onto y_pred (not for integer labels, one per sample)
    _targets_like_pred = True

    # -- subclass hooks -----------------------------------------------------------------
    def _values(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _values_grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``d sum(l) / dp`` (shape of ``p``)."""
        raise NotImplementedError

    def _prepare_true(self, y_true: Any, p: np.ndarray) -> np.ndarray:
        return _validate.array("y_true", y_true, require_finite=False).astype(p.dtype, copy=False)

    # -- public -------------------------------------------------------------------------
    def _prepare(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        original = _float_pred(y_pred)
        t = self._prepare_true(y_true, original)
        p = original
        if self._match_rank:
            t, p = squeeze_or_expand_to_same_rank(t, p)
        if self._targets_like_pred:
            try:
                fits = np.broadcast_shapes(t.shape, p.shape) == p.shape
            except ValueError:
                fits = False
            if not fits:  # y_true must broadcast onto y_pred: the gradient has y_pred's shape
                raise ValueError(f"y_true and y_pred must have the same shape (or y_true one that "
                                 f"broadcasts to y_pred's) for {self.name}, got y_true "
                                 f"{np.shape(y_true)} and y_pred {original.shape}")
        return t, p, original

    def per_sample(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """The per-sample losses ``l`` Keras reduces (shape of y_pred minus its last axis)."""
        t, p, _ = self._prepare(y_true, y_pred)
        return self._values(t, p)

    @staticmethod
    def _reduce(values: np.ndarray) -> np.ndarray:
        if values.ndim == 0:
            return values
        total = np.sum(values)
        if values.size == 0:  # divide_no_nan
            return np.zeros((), values.dtype)
        return np.asarray(total / values.dtype.type(values.size), dtype=values.dtype)

    def __call__(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """``sum(l) / l.size`` as a 0-d array in y_pred's dtype."""
        return self._reduce(self.per_sample(y_true, y_pred))

    def grad(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """``dL/dy_pred`` of the reduced loss, same shape and dtype as ``y_pred``."""
        t, p, original = self._prepare(y_true, y_pred)
        count = max(1, int(np.prod(p.shape[:-1]))) if p.ndim else 1
        g = self._values_grad(t, p)
        g /= p.dtype.type(count)
        return g.reshape(original.shape)

    def value_and_grad(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return self(y_true, y_pred), self.grad(y_true, y_pred)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": "sum_over_batch_size"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "reduction")
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """``l = mean((y_true - y_pred)^2, axis=-1)``; ``L = sum(l) / l.size``
    (``keras.losses.MeanSquaredError``). Gradient ``dL/dp = 2 (p - y) / (d * l.size)`` with
    ``d`` the last-axis length. In float32 the order is Keras's: per-sample mean, then the
    sum over samples, then one division by the sample count."""

    name = "mean_squared_error"

    def _values(self, t, p):
        diff = t - p
        return np.mean(diff * diff, axis=-1)

    def _values_grad(self, t, p):
        d = p.shape[-1] if p.ndim else 1
        g = p - t
        g *= p.dtype.type(2.0 / d)
        return g


class HalfMeanSquaredError(Loss):
    """``l = mean((y_true - y_pred)^2, axis=-1) / 2``; ``L = sum(l) / l.size`` -- for one output,
    ``L = (1/2n) sum_i (f_i - y_i)^2``. Not a Keras loss: it is the loss of Cohen et al.'s
    edge-of-stability experiments. Keras's MSE has no 1/2, so its Hessian is twice this one's
    and a run at step size eta under MSE is a run at 2*eta under the half MSE.
    Gradient ``dL/dp = (p - y) / (d * l.size)``."""

    name = "half_mean_squared_error"

    def _values(self, t, p):
        diff = t - p
        return np.mean(diff * diff, axis=-1) * p.dtype.type(0.5)

    def _values_grad(self, t, p):
        d = p.shape[-1] if p.ndim else 1
        g = p - t
        g *= p.dtype.type(1.0 / d)
        return g


def _clip_weight(q: np.ndarray, low: np.floating, high: np.floating) -> np.ndarray:
    """d clip(q, low, high) / dq as JAX computes it: 1 inside, 1/2 on a boundary, 0 outside."""
    inside = ((q > low) & (q < high)).astype(q.dtype)
    inside += q.dtype.type(0.5) * ((q == low) | (q == high))
    return inside


class _Crossentropy(Loss):
    """What the categorical and binary crossentropies share: Keras's ``from_logits`` and
    ``label_smoothing`` arguments, gdsim's ``clip`` switch, and the smoothing of targets."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, clip: bool = True):
        self.from_logits = _validate.boolean("from_logits", from_logits)
        self.label_smoothing = _validate.in_range("label_smoothing", label_smoothing, 0.0, 1.0,
                                                  high_open=False)
        self.clip = _validate.boolean("clip", clip)

    def _check_same_shape(self, t: np.ndarray, p: np.ndarray) -> None:
        if t.shape != p.shape:
            raise ValueError(f"y_true and y_pred must have the same shape for {self.name}, got "
                             f"y_true {t.shape} and y_pred {p.shape}")

    def _smoothed(self, t: np.ndarray, p: np.ndarray, classes: int) -> np.ndarray:
        """``y (1 - s) + s / classes`` with ``s = label_smoothing`` (``y`` itself when 0)."""
        if self.label_smoothing:
            s = p.dtype.type(self.label_smoothing)
            t = t * (1 - s) + s / p.dtype.type(classes)
        return t

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "clip": self.clip}


class CategoricalCrossentropy(_Crossentropy):
    """``l = -sum(y * log p, axis=-1)`` (``keras.losses.CategoricalCrossentropy``).

    ``from_logits=False`` (Keras JAX/torch): ``q = p / sum(p)``, ``c = clip(q, 1e-7, 1-1e-7)``,
    ``l = -sum(y log c)``; gradient ``dl/dp_j = (h_j - sum_k h_k q_k) / sum(p)`` with
    ``h = -y / c * clip'(q)``. ``clip=False`` drops the clip (exact, ``inf`` at p = 0).
    ``from_logits=True``: ``l = -sum(y * log_softmax(z))``, ``dl/dz = softmax(z) sum(y) - y``
    (what Keras-TF computes for a softmax output layer).
    ``label_smoothing=s`` replaces ``y`` by ``y (1 - s) + s / C`` first.
    """

    name = "categorical_crossentropy"

    def _targets(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        self._check_same_shape(t, p)
        if p.ndim < 1:
            raise ValueError(f"y_pred must have rank >= 1 for {self.name}, got shape {p.shape}")
        return self._smoothed(t, p, p.shape[-1])

    def _log_prob(self, p: np.ndarray) -> np.ndarray:
        if self.from_logits:
            shifted = p - p.max(axis=-1, keepdims=True)
            return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        q = p / np.sum(p, axis=-1, keepdims=True)
        if self.clip:
            dtype = p.dtype.type
            q = np.clip(q, dtype(EPSILON), dtype(1.0 - EPSILON))
        with _overflow.overflow_is_data():
            return np.log(q)

    def _values(self, t, p):
        t = self._targets(t, p)
        return -np.sum(t * self._log_prob(p), axis=-1)

    def _values_grad(self, t, p):
        t = self._targets(t, p)
        if self.from_logits:
            shifted = np.exp(p - p.max(axis=-1, keepdims=True))
            softmax = shifted / shifted.sum(axis=-1, keepdims=True)
            return softmax * t.sum(axis=-1, keepdims=True) - t
        total = np.sum(p, axis=-1, keepdims=True)
        q = p / total
        if self.clip:
            dtype = p.dtype.type
            low, high = dtype(EPSILON), dtype(1.0 - EPSILON)
            h = -t / np.clip(q, low, high) * _clip_weight(q, low, high)
        else:
            with _overflow.overflow_is_data():
                h = -t / q
        return (h - np.sum(h * q, axis=-1, keepdims=True)) / total


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical crossentropy with integer labels ``y_true (N,)`` or ``(N, 1)``
    (``keras.losses.SparseCategoricalCrossentropy``): one-hot, then as
    :class:`CategoricalCrossentropy` (same clip, same gradient)."""

    name = "sparse_categorical_crossentropy"
    _targets_like_pred = False  # labels (N,) against probabilities (N, classes): checked below

    def __init__(self, from_logits: bool = False, clip: bool = True):
        super().__init__(from_logits=from_logits, clip=clip)

    def _prepare_true(self, y_true, p):
        labels = _validate.array("y_true", y_true)
        if not np.all(labels == np.round(labels)):
            raise ValueError("y_true must hold integer class labels for sparse_categorical_crossentropy")
        return labels.astype(np.int64)

    def _targets(self, t, p):
        if t.ndim == p.ndim and t.shape[-1] == 1:
            t = t[..., 0]
        if t.shape != p.shape[:-1]:
            raise ValueError(f"y_true must have shape {p.shape[:-1]} (y_pred's without the class "
                             f"axis) for {self.name}, got {t.shape}")
        classes = p.shape[-1]
        if np.any((t < 0) | (t >= classes)):
            raise ValueError(f"y_true labels must be in [0, {classes}), got min {t.min()}, max {t.max()}")
        return (t[..., None] == np.arange(classes)).astype(p.dtype)

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return config


class BinaryCrossentropy(_Crossentropy):
    """``l = mean(-(y log c + (1 - y) log(1 - c)), axis=-1)`` with ``c = clip(p, 1e-7, 1-1e-7)``
    (``keras.losses.BinaryCrossentropy``, JAX/torch path); gradient 0 where clipped.
    ``from_logits=True``: ``-(y log sigmoid(z) + (1 - y) log sigmoid(-z))``, gradient
    ``sigmoid(z) - y``. ``clip=False`` drops the clip. ``label_smoothing=s``:
    ``y <- y (1 - s) + s / 2``.
    """

    name = "binary_crossentropy"

    def _targets(self, t, p):
        self._check_same_shape(t, p)
        return self._smoothed(t, p, 2)

    def _elementwise(self, t, p):
        if self.from_logits:
            # log sigmoid(z) = -logaddexp(0, -z)
            return t * np.logaddexp(0, -p) + (1 - t) * np.logaddexp(0, p)
        if self.clip:
            dtype = p.dtype.type
            p = np.clip(p, dtype(EPSILON), dtype(1.0 - EPSILON))
        with _overflow.overflow_is_data():
            bce = t * np.log(p)
            bce += (1 - t) * np.log(1 - p)
        return -bce

    def _values(self, t, p):
        t = self._targets(t, p)
        return np.mean(self._elementwise(t, p), axis=-1)

    def _values_grad(self, t, p):
        t = self._targets(t, p)
        d = p.dtype.type(p.shape[-1] if p.ndim else 1)
        if self.from_logits:
            sig = np.exp(-np.logaddexp(0, -p))
            return (sig - t) / d
        if self.clip:
            dtype = p.dtype.type
            low, high = dtype(EPSILON), dtype(1.0 - EPSILON)
            c = np.clip(p, low, high)
            weight = _clip_weight(p, low, high)
        else:
            c, weight = p, 1
        with _overflow.overflow_is_data():
            g = (-t / c + (1 - t) / (1 - c)) * weight
        return g / d


_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "half_mean_squared_error": HalfMeanSquaredError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(identifier: str | Loss) -> Loss:
    """A loss from a Keras name (``"mean_squared_error"``/``"mse"``, ``"categorical_crossentropy"``,
    ``"sparse_categorical_crossentropy"``, ``"binary_crossentropy"``), gdsim's
    ``"half_mean_squared_error"``, or a :class:`Loss`."""
    if isinstance(identifier, Loss):
        return identifier
    return _BY_NAME[_validate.choice("loss", identifier, _BY_NAME)]()
