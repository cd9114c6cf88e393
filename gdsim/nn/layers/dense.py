"""Dense: ``y = activation(x @ kernel + bias)`` (``keras.layers.Dense``)."""

from __future__ import annotations

from typing import Sequence

from gdsim import _validate
from gdsim.nn import activations as _activations
from gdsim.nn import initializers as _initializers
from gdsim.nn import ops
from gdsim.nn.layers.base import Layer


class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` (``keras.layers.Dense``).

    Shapes: ``x (N, ..., in)``, ``kernel (in, units)``, ``bias (units,)``, ``y (N, ..., units)``.
    Backward (``g = dL/dz`` for ``z = x @ kernel + bias``): ``dkernel = x^T g`` (summed over all
    leading axes), ``dbias = sum g`` (:func:`gdsim.nn.ops.column_sums`), ``dx = g @ kernel^T``.
    """

    _trainable_names = ("kernel", "bias")

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str | _initializers.Initializer = "glorot_uniform",
                 bias_initializer: str | _initializers.Initializer = "zeros",
                 input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.units = _validate.integer("units", units, minimum=1)
        self.activation = _activations.get(activation)
        self.use_bias = _validate.boolean("use_bias", use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = _initializers.get(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self._trainable_names = ("kernel",)

    def _build(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ValueError(f"Dense layer {self.name!r} needs inputs of rank >= 2 (batch, ..., "
                             f"features), got input_shape {input_shape}")
        self._check_weights_fit(input_shape[-1] * self.units,
                                f"{_validate.count(input_shape[-1])} inputs x {_validate.count(self.units)} units")
        self.kernel = self.kernel_initializer((input_shape[-1], self.units), self.dtype, rng)
        if self.use_bias:
            self.bias = self.bias_initializer((self.units,), self.dtype, rng)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        x = self.check_input(x)
        z = x @ self.kernel
        if self.use_bias:
            z = z + self.bias
        y = self.activation.forward(z)
        self._x, self._y = x, y
        return y

    def backward(self, grad_output):
        g = self.activation.backward(self._y, grad_output)
        if self.trainable:
            self.grads = self.weight_grads(self._x, g)
        else:
            self.grads = []
        return g @ self.kernel.T

    def weight_grads(self, x, g):
        """``[dkernel, dbias]`` from the input ``x (N, ..., in)`` and ``g = dL/dz (N, ..., units)``."""
        x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, self.units)
        return [x2.T @ g2] + ([ops.column_sums(g2)] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer.name,
                "bias_initializer": self.bias_initializer.name}
