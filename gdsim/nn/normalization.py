"""BatchNormalization with the full backward pass through the batch statistics."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import initializers as _initializers
from gdsim.nn._reduce import Folded
from gdsim.nn.base import Layer


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization`` (no renorm, no masks).

    ``axis`` (batch axis counted, default -1) keeps its own ``gamma, beta, moving_mean,
    moving_variance`` (each of shape ``(C,)``); statistics are taken over every other axis
    (for NHWC conv outputs: batch, H, W). With ``m`` the number of values per channel:

    - training (``training=True`` and ``trainable``): ``mu = mean(x)``, ``var = mean((x - mu)^2)``
      (biased), and in the same call ``moving_mean <- momentum*moving_mean + (1-momentum)*mu``,
      ``moving_variance <- momentum*moving_variance + (1-momentum)*var`` (biased var too);
    - otherwise (inference, or ``trainable=False`` even in training): ``mu, var`` = the moving
      statistics, nothing updated.

    Output, in Keras's (JAX backend) float order: ``inv = gamma / sqrt(var + eps)``,
    ``y = x*inv + (beta - mu*inv)``.

    Backward (``g = dL/dy``, ``xhat = (x - mu)/sqrt(var + eps)``, sums over the non-channel
    axes): ``dbeta = sum g``, ``dgamma = sum g*xhat``; training:
    ``dx = gamma/sqrt(var + eps) * (g - dbeta/m - xhat*dgamma/m)`` (the gradient through
    ``mu`` and ``var``); inference: ``dx = g*inv``.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True,
                 beta_initializer: str | _initializers.Initializer = "zeros",
                 gamma_initializer: str | _initializers.Initializer = "ones",
                 moving_mean_initializer: str | _initializers.Initializer = "zeros",
                 moving_variance_initializer: str | _initializers.Initializer = "ones",
                 input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.axis = _validate.integer("axis", axis)
        self.momentum = _validate.in_range("momentum", momentum, 0.0, 1.0, high_open=False)
        self.epsilon = _validate.positive("epsilon", epsilon)
        self.center = _validate.boolean("center", center)
        self.scale = _validate.boolean("scale", scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self._trainable_names = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())
        self._non_trainable_names = ("moving_mean", "moving_variance")

    def _channel_axis(self, rank: int) -> int:
        """``axis`` as a positive index into ``(N, *input_shape)`` (rank counts the batch axis)."""
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"axis {self.axis} of BatchNormalization layer {self.name!r} is out of "
                             f"range for inputs of rank {rank} (the batch axis 0 cannot be the "
                             f"feature axis)")
        return axis

    def _build(self, input_shape, rng):
        rank = len(input_shape) + 1
        self._axis = self._channel_axis(rank)
        channels = input_shape[self._axis - 1]
        shape = (channels,)
        if self.scale:
            self.gamma = self.gamma_initializer(shape, self.dtype, rng)
        if self.center:
            self.beta = self.beta_initializer(shape, self.dtype, rng)
        self.moving_mean = self.moving_mean_initializer(shape, self.dtype, rng)
        self.moving_variance = self.moving_variance_initializer(shape, self.dtype, rng)
        self._last_axis = self._axis == rank - 1

    # -- layout: every computation runs on a (m, C) matrix with the channel last ------------
    def _to_matrix(self, x: np.ndarray) -> np.ndarray:
        if self._last_axis:
            return x.reshape(-1, x.shape[-1])
        return np.moveaxis(x, self._axis, -1).reshape(-1, x.shape[self._axis])

    def _from_matrix(self, y2: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Back from a (possibly folded) channel-last matrix to the layer's layout."""
        if self._last_axis:
            return y2.reshape(shape)
        moved = shape[:self._axis] + shape[self._axis + 1:] + (shape[self._axis],)
        # y2 may be folded (m / r, r*C): its C-order data is the (m, C) matrix all the same
        return np.ascontiguousarray(np.moveaxis(y2.reshape(moved), -1, self._axis))

    def _gamma(self) -> np.ndarray:
        return self.gamma if self.scale else np.ones_like(self.moving_mean)

    def _beta(self) -> np.ndarray:
        return self.beta if self.center else np.zeros_like(self.moving_mean)

    def forward(self, x, training=False):
        x = self._check_input(x)
        x2 = self._to_matrix(x)
        m = x2.shape[0]
        fold = Folded(m, x2.shape[1])
        xw = fold.view(x2)
        dtype = self.dtype.type
        batch_stats = bool(training) and self.trainable
        centered = None
        if batch_stats:
            mean = fold.sums(xw) / dtype(m)
            # kept for backward, which turns it into dx: reusable once the model's step is over
            centered = np.subtract(xw, fold.tile(mean),
                                   out=self._buffer("centered", xw.shape, xw.dtype, self.reuse_buffers))
            # squared into a scratch buffer (never returned) so that backward can reuse
            # ``x - mu`` instead of recomputing it
            square = np.multiply(centered, centered, out=self._buffer("scratch", xw.shape, xw.dtype))
            var = fold.sums(square) / dtype(m)
            momentum = dtype(self.momentum)
            self.moving_mean = self.moving_mean * momentum + mean * dtype(1.0 - self.momentum)
            self.moving_variance = self.moving_variance * momentum + var * dtype(1.0 - self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_variance
        rstd = dtype(1.0) / np.sqrt(var + dtype(self.epsilon))
        inv = rstd * self._gamma()
        shift = self._beta() - mean * inv
        output = self._buffer("output", xw.shape, xw.dtype, self.reuse_buffers and batch_stats)
        yw = np.multiply(xw, fold.tile(inv), out=output)
        yw += fold.tile(shift)
        self._cache = (xw, fold, mean, rstd, batch_stats, centered)
        return self._from_matrix(yw, x.shape)

    def backward(self, grad_output):
        xw, fold, mean, rstd, batch_stats, centered = self._cache
        gw = fold.view(self._to_matrix(np.asarray(grad_output)))
        dtype = self.dtype.type
        gamma = self._gamma()
        need_param_grads = self.trainable
        need_dgamma = batch_stats or (need_param_grads and self.scale)
        dbeta = fold.sums(gw)
        if need_dgamma:
            if centered is not None:
                # the forward's ``x - mu`` is consumed here (turned into xhat in place, then
                # into dx): a second backward of the same forward recomputes it
                self._cache = (xw, fold, mean, rstd, batch_stats, None)
                xhat = centered
            else:
                xhat = xw - fold.tile(mean)
            xhat *= fold.tile(rstd)
            product = np.multiply(gw, xhat, out=self._buffer("scratch", xhat.shape, xhat.dtype))
            dgamma = fold.sums(product)
        if need_param_grads:
            self.grads = ([dgamma] if self.scale else []) + ([dbeta] if self.center else [])
        else:
            self.grads = []
        if not self.compute_input_grad:
            return None
        if batch_stats:
            m = dtype(xw.size // fold.columns)
            dx = np.multiply(xhat, fold.tile(dgamma / m), out=xhat)  # xhat is ours and done with
            np.subtract(gw, dx, out=dx)
            dx -= fold.tile(dbeta / m)
            dx *= fold.tile(gamma * rstd)
        else:
            dx = gw * fold.tile(gamma * rstd)
        return self._from_matrix(dx, np.shape(grad_output))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
