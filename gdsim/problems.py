"""Finite-sum problems ``f(w) = mean_i l_i(w)`` with analytic value, gradient and Hessian.

A problem is also a *surface* (the duck type of ``gdsim.surfaces.Surface``): ``dim``,
``value(w)``, ``grad(w)``, ``hessian(w)`` on points of shape ``(..., dim)``, plus ``name``,
``minima`` and ``box``, so the simulator and the analysis functions take either. On top of
that, every sample-dependent method takes ``idx``: integer sample indices of shape
``(..., B)`` (broadcasting against the points' leading axes) selecting a minibatch, which is
what ``gdsim.noise.Minibatch`` feeds it.

Bit-reproducibility: each point's result depends only on that point, never on how many points
share the call (elementwise ufuncs; sums over features written left to right; means over
samples are reductions along a contiguous last axis, whose order does not depend on the
leading axes). Float32 points are computed in float32 (the data cast once), anything else in
float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate

__all__ = ["LinearRegression"]


class LinearRegression:
    r"""Least squares for a linear model: Keras ``Dense(1)`` with mean squared error.

    Data ``x`` of shape ``(n,)`` (one feature, as in the seed question) or ``(n, d)``, targets
    ``y`` of shape ``(n,)``. Parameters are points ``w`` of shape ``(..., d + 1)``: the kernel
    ``w[..., :d]`` then the bias ``w[..., d]`` (Keras's weight order). With ``a_i = (x_i, 1)``
    and residual ``r_i = a_i . w - y_i``::

        value(w)   = mean_i r_i^2                      (Keras loss="mean_squared_error")
        grad(w)    = 2 mean_i r_i a_i
        hessian(w) = 2 mean_i a_i a_i^T                (constant: 2*[[mean x^2, mean x], [mean x, 1]] for d=1)

    ``idx`` (shape ``(..., B)``) replaces "mean over all n samples" by "mean over the B selected
    samples". The seed problem is ``LinearRegression.seed(20)``: ``x = 1..20, y = x/2``.
    """

    name = "linear_regression"

    def __init__(self, x: Any, y: Any) -> None:
        x = _validate.array("x", x, dtype=np.float64, ndim=(1, 2))
        y = _validate.array("y", y, dtype=np.float64, ndim=1)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x and y must have the same number of samples, got x {x.shape} and y {y.shape}")
        self.x = x.reshape(x.shape[0], -1).copy()
        self.y = y.copy()
        self.x.setflags(write=False)
        self.y.setflags(write=False)
        self.n_samples, self.n_features = self.x.shape
        self.dim = self.n_features + 1
        # Per dtype: the feature columns (each contiguous) and targets.
        self._data = {np.dtype(t): ([np.ascontiguousarray(self.x[:, j], dtype=t) for j in range(self.n_features)],
                                    self.y.astype(t)) for t in (np.float32, np.float64)}

    @classmethod
    def seed(cls, n: int = 20) -> "LinearRegression":
        """The seed question's data: ``x = 1, 2, ..., n``, ``y = x / 2``."""
        n = _validate.integer("n", n, minimum=1)
        # x, y, their design matrix and a few per-sample copies while fitting
        _validate.memory("n", 64 * n, f"{_validate.count(n)} samples")
        xs = np.arange(1, n + 1, dtype=np.float64)
        return cls(xs, xs / 2)

    def __repr__(self) -> str:
        return f"LinearRegression(n_samples={self.n_samples}, n_features={self.n_features})"

    # ------------------------------------------------------------------ plumbing
    def _points(self, w: Any) -> tuple[np.ndarray, np.dtype]:
        w = _validate.array("params", w, require_finite=False, allow_empty=True)
        if w.ndim == 0 or w.shape[-1] != self.dim:
            raise ValueError(f"params must have shape (..., {self.dim}) (kernel then bias), got shape {w.shape}")
        dtype = np.dtype(np.float32) if w.dtype == np.float32 else np.dtype(np.float64)
        return w.astype(dtype, copy=False), dtype

    def _indices(self, idx: Any) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"idx must be an integer array of sample indices, got dtype {idx.dtype}")
        if idx.ndim == 0:
            raise ValueError("idx must have shape (..., B), got a scalar")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise ValueError(f"idx must be in [0, {self.n_samples}), got range [{idx.min()}, {idx.max()}]")
        return idx

    def _columns(self, dtype: np.dtype, idx: Any) -> tuple[list[np.ndarray], np.ndarray]:
        cols, y = self._data[dtype]
        if idx is None:
            return cols, y
        idx = self._indices(idx)
        return [c[idx] for c in cols], y[idx]

    # ------------------------------------------------------------------ the maps
    def residuals(self, params: Any, idx: Any = None) -> np.ndarray:
        """``r_i = x_i . kernel + bias - y_i``: points (..., d+1) -> (..., n) or (..., B)."""
        w, dtype = self._points(params)
        cols, y = self._columns(dtype, idx)
        pred = cols[0] * w[..., 0:1]
        for j in range(1, self.n_features):
            pred = pred + cols[j] * w[..., j:j + 1]
        return np.ascontiguousarray(pred + w[..., self.n_features:] - y)

    def value(self, params: Any, idx: Any = None) -> np.ndarray:
        """Mean squared error over all samples (or the ``idx`` minibatch): (...)."""
        r = self.residuals(params, idx)
        return np.mean(r * r, axis=-1)

    def per_sample_value(self, params: Any, idx: Any = None) -> np.ndarray:
        """``r_i^2``: (..., n) or (..., B)."""
        r = self.residuals(params, idx)
        return r * r

    def grad(self, params: Any, idx: Any = None) -> np.ndarray:
        """``2 mean_i r_i a_i``: (..., d+1)."""
        r = self.residuals(params, idx)
        w, dtype = self._points(params)
        cols, _ = self._columns(dtype, idx)
        two = dtype.type(2)
        parts = [two * np.mean(r * c, axis=-1) for c in cols] + [two * np.mean(r, axis=-1)]
        return np.stack(parts, axis=-1)

    def per_sample_grads(self, params: Any, idx: Any = None) -> np.ndarray:
        """``2 r_i a_i`` for every sample: (..., n, d+1) or (..., B, d+1). Their mean is ``grad``
        up to rounding; their spread is the minibatch gradient noise."""
        r = self.residuals(params, idx)
        w, dtype = self._points(params)
        cols, _ = self._columns(dtype, idx)
        r2 = dtype.type(2) * r
        return np.stack([r2 * c for c in cols] + [r2], axis=-1)

    def hessian(self, params: Any, idx: Any = None) -> np.ndarray:
        """``2 mean_i a_i a_i^T`` (independent of the point): (..., d+1, d+1)."""
        w, dtype = self._points(params)
        if idx is None:
            h = self._full_hessian().astype(dtype)
            return np.broadcast_to(h, w.shape[:-1] + h.shape).copy()
        cols, _ = self._columns(dtype, idx)
        ones = np.ones_like(cols[0]) if cols else None
        feats = cols + [ones]
        two = dtype.type(2)
        rows = [np.stack([two * np.mean(a * b, axis=-1) for b in feats], axis=-1) for a in feats]
        h = np.stack(rows, axis=-2)
        return np.broadcast_to(h, np.broadcast_shapes(h.shape, w.shape[:-1] + h.shape[-2:])).copy()

    def _full_hessian(self) -> np.ndarray:
        a = np.concatenate([self.x, np.ones((self.n_samples, 1))], axis=1)
        return 2 * (a.T @ a) / self.n_samples

    def gradient_noise_covariance(self, params: Any, batch_size: int, replace: bool = False) -> np.ndarray:
        r"""Covariance of the minibatch gradient around the full gradient: (..., d+1, d+1).

        With ``S`` the population covariance of the per-sample gradients (divide by n):
        ``S / B`` when sampling with replacement, ``S / B * (n - B) / (n - 1)`` without
        (zero for a full batch). This is why SGD is noisy and why the noise shrinks as 1/B.
        """
        batch_size = _validate.integer("batch_size", batch_size, minimum=1)
        replace = _validate.boolean("replace", replace)
        if not replace and batch_size > self.n_samples:
            raise ValueError(f"batch_size must be <= n_samples={self.n_samples} without replacement, "
                             f"got {batch_size}")
        g = self.per_sample_grads(np.asarray(params, dtype=np.float64))
        centered = g - np.mean(g, axis=-2, keepdims=True)
        s = np.einsum("...ni,...nj->...ij", centered, centered) / self.n_samples
        if replace:
            return s / batch_size
        n = self.n_samples
        return s / batch_size * ((n - batch_size) / (n - 1) if n > 1 else 0.0)

    # ------------------------------------------------------------------ surface extras
    @property
    def minimizer(self) -> np.ndarray:
        """The least-squares solution (d+1,) (minimum-norm if the data are degenerate)."""
        a = np.concatenate([self.x, np.ones((self.n_samples, 1))], axis=1)
        return np.linalg.lstsq(a, self.y, rcond=None)[0]

    @property
    def minima(self) -> np.ndarray:
        return self.minimizer[None, :]

    @property
    def minimum_value(self) -> float:
        return float(self.value(self.minimizer))

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``: a plotting box around the minimizer."""
        m = self.minimizer
        half = 1.0 + np.abs(m)
        return m - half, m + half

    def kernel_bias(self, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """Split points (..., d+1) into kernel (..., d) and bias (...)."""
        w, _ = self._points(params)
        return w[..., :self.n_features], w[..., self.n_features]

    def predict(self, params: Any, x: Any) -> np.ndarray:
        """Model output for new inputs ``x`` (m,) or (m, d): (..., m)."""
        w, dtype = self._points(params)
        x = _validate.array("x", x, dtype=dtype, ndim=(1, 2))
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.n_features:
            raise ValueError(f"x must have {self.n_features} feature(s), got shape {x.shape}")
        pred = np.ascontiguousarray(x[:, 0]) * w[..., 0:1]
        for j in range(1, self.n_features):
            pred = pred + np.ascontiguousarray(x[:, j]) * w[..., j:j + 1]
        return pred + w[..., self.n_features:]
