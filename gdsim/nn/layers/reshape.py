"""Flatten: ``(N, d1, ..., dk) -> (N, d1*...*dk)`` (``keras.layers.Flatten``)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from gdsim.nn.arguments import normalize_data_format
from gdsim.nn.layers.base import Layer


class Flatten(Layer):
    """``(N, d1, ..., dk) -> (N, d1*...*dk)`` in C order (``keras.layers.Flatten``).

    With ``data_format="channels_first"`` Keras 3 first moves the channel axis last, so the
    feature index is ``(h*W + w)*C + c`` in both formats (a model flattened either way feeds a
    Dense kernel the same rows). Backward: the same reshape (and move) undone.
    """

    def __init__(self, data_format: str | None = None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.data_format = normalize_data_format(data_format)

    def _transposes(self) -> bool:
        return self.data_format == "channels_first" and len(self.build_input_shape) > 1

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        x = self.check_input(x)
        if self._transposes():
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output):
        self.grads = []
        shape = self.build_input_shape
        if self._transposes():
            channels_last = shape[1:] + shape[:1]
            return np.moveaxis(grad_output.reshape((-1,) + channels_last), -1, 1)
        return grad_output.reshape((-1,) + shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
