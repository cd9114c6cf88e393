"""Inverted dropout (``keras.layers.Dropout``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import arguments, ops
from gdsim.nn.layers.base import Layer


class Dropout(Layer):
    """Inverted dropout (``keras.layers.Dropout``).

    Training: ``y = x / (1 - rate)`` where the mask keeps an element (probability
    ``1 - rate``), else 0; inference: ``y = x``. Backward: ``dx = g / (1 - rate)`` on the same
    mask. ``noise_shape`` (batch axis included, ``None`` = take x's size) shares one mask along
    axes of size 1, as Keras does.

    Masks come from a NumPy Generator (:attr:`generator`): ``numpy.random.default_rng(seed)``
    if ``seed`` is given, else the generator passed to :meth:`build`; each training forward
    draws a new mask (:func:`gdsim.nn.ops.dropout_mask`). Keras's masks (Philox / threefry)
    cannot be reproduced in NumPy; the distribution is the same.
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.rate = _validate.in_range("rate", rate, 0.0, 1.0, high_open=False)
        self.noise_shape = arguments.noise_shape(noise_shape)
        self.seed = None if seed is None else _validate.integer("seed", seed, minimum=0)
        self._mask: np.ndarray | None = None
        self._rng: np.random.Generator | None = None

    def _build(self, input_shape, rng):
        if self.seed is not None:
            self._rng = np.random.default_rng(self.seed)
        else:
            self._rng = rng  # may stay None when rate == 0 (never draws)
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape) + 1:
            raise ValueError(f"noise_shape {self.noise_shape} of layer {self.name!r} must have rank "
                             f"{len(input_shape) + 1} (batch axis included)")

    @property
    def generator(self) -> np.random.Generator | None:
        """The generator the masks are drawn from (a checkpoint saves its state)."""
        return self._rng

    def mask_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the mask for inputs of shape ``x_shape`` (batch axis included)."""
        if self.noise_shape is None:
            return x_shape
        return tuple(s if d is None else d for d, s in zip(self.noise_shape, x_shape))

    def draws(self, training: bool) -> bool:
        """Whether a forward pass in this mode draws a mask from :attr:`generator`."""
        if training and 0.0 < self.rate < 1.0 and self._rng is None:
            raise TypeError(f"Dropout layer {self.name!r} has no seed: build() needs rng, "
                            "a numpy.random.Generator")
        return bool(training) and 0.0 < self.rate < 1.0

    def forward(self, x, training=False):
        x = self.check_input(x)
        self._mask = None
        if not training or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            self._mask = np.zeros(x.shape, dtype=bool)
            return np.zeros_like(x)
        self.draws(training)
        self._mask = ops.dropout_mask(self._rng, self.mask_shape(x.shape), self.rate)
        return ops.dropout_apply(x, self._mask, self.rate)

    def backward(self, grad_output):
        self.grads = []
        if self._mask is None:
            return grad_output
        if self.rate == 1.0:
            return np.zeros_like(grad_output)
        return ops.dropout_apply(grad_output, self._mask, self.rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}
