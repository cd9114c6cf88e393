"""Activation layers: ``y = f(x)`` element-wise or softmax (``keras.layers.Activation``, ``ReLU``)."""

from __future__ import annotations

from typing import Sequence

from gdsim.nn import activations as _activations
from gdsim.nn.layers.base import Layer


class Activation(Layer):
    """``y = f(x)`` for ``f`` in ``"relu"``, ``"softmax"`` (last axis), ``"sigmoid"``, ``"tanh"``,
    ``"linear"`` (``keras.layers.Activation``); backward ``dx = f'(x) * g`` written through the
    output ``y`` (see :mod:`gdsim.nn.activations` for each derivative)."""

    def __init__(self, activation: str | None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.activation = _activations.get(activation)  # None -> "linear", as in Keras

    def forward(self, x, training=False):
        self._y = self.activation.forward(self.check_input(x))
        return self._y

    def backward(self, grad_output):
        self.grads = []
        return self.activation.backward(self._y, grad_output)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class ReLU(Activation):
    """``max(x, 0)`` (``keras.layers.ReLU`` with its default arguments only)."""

    def __init__(self, input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__("relu", input_shape=input_shape, name=name, trainable=trainable)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config
