"""BatchNormalization with the full backward pass through the batch statistics."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import initializers as _initializers
from gdsim.nn import ops
from gdsim.nn.layers.base import Layer


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

    Output, in Keras's (JAX backend) float order (:func:`gdsim.nn.ops.batch_norm_coefficients`;
    channel sums in the grouping of :func:`gdsim.nn.ops.batch_channel_sums`, over the batch's
    halves for feature maps): ``inv = gamma / sqrt(var + eps)``,
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
        self.beta_initializer = _initializers.get(beta_initializer, "beta_initializer")
        self.gamma_initializer = _initializers.get(gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer, "moving_variance_initializer")
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

    def effective_gamma(self) -> np.ndarray:
        return self.gamma if self.scale else np.ones_like(self.moving_mean)

    def effective_beta(self) -> np.ndarray:
        return self.beta if self.center else np.zeros_like(self.moving_mean)

    @property
    def channel_axis(self) -> int:
        """The channel axis as a positive index into ``(N, *input_shape)``."""
        return self._axis

    def uses_batch_statistics(self, training: bool, batch_statistics: bool = False) -> bool:
        """Whether a forward pass normalizes with the batch's own mean and variance: in training
        (unless frozen), or when asked for (:meth:`gdsim.nn.model.Sequential.evaluate`'s
        ``batch_statistics``)."""
        return (bool(training) and self.trainable) or bool(batch_statistics)

    def forward(self, x, training=False, batch_statistics=False):
        """``batch_statistics=True`` normalizes with the batch statistics even in inference
        mode; the moving statistics are updated only in training (``training=True``)."""
        x = self.check_input(x)
        x2 = ops.channel_matrix(x, self._axis)
        parts = ops.batch_parts(x.shape)
        m = x2.dtype.type(x2.shape[0])
        batch_stats = self.uses_batch_statistics(training, batch_statistics)
        if batch_stats:
            mean = ops.batch_channel_sums(x2, parts) / m
            centered = x2 - mean
            var = ops.batch_channel_sums(centered * centered, parts) / m
            if training and self.trainable:
                self.moving_mean = ops.moving_average(self.moving_mean, mean, self.momentum)
                self.moving_variance = ops.moving_average(self.moving_variance, var, self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_variance
        rstd, inv, shift = ops.batch_norm_coefficients(mean, var, self.effective_gamma(), self.effective_beta(),
                                                       self.epsilon)
        y2 = x2 * inv + shift
        self._cache = (x2, parts, mean, rstd, batch_stats)
        return ops.from_channel_matrix(y2, x.shape, self._axis)

    def backward(self, grad_output):
        x2, parts, mean, rstd, batch_stats = self._cache
        g2 = ops.channel_matrix(np.asarray(grad_output), self._axis)
        gamma = self.effective_gamma()
        dbeta = ops.batch_channel_sums(g2, parts)
        xhat = (x2 - mean) * rstd
        dgamma = ops.batch_channel_sums(g2 * xhat, parts)
        if self.trainable:
            self.grads = ([dgamma] if self.scale else []) + ([dbeta] if self.center else [])
        else:
            self.grads = []
        if batch_stats:  # the gradient through mu and var as well
            m = x2.dtype.type(x2.shape[0])
            dx = ((g2 - xhat * (dgamma / m)) - dbeta / m) * (gamma * rstd)
        else:
            dx = g2 * (gamma * rstd)
        return ops.from_channel_matrix(dx, np.shape(grad_output), self._axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}
