"""Keras-like layers with hand-written backward passes (Keras 3 semantics, float32 by default).

Every layer follows one small protocol (see :class:`Layer`)::

    layer.build(input_shape, dtype, rng)        # input_shape excludes the batch axis
    y = layer.forward(x, training=False)        # x: (N, *input_shape); caches what backward needs
    dx = layer.backward(dy)                     # dL/dx for the last forward; sets layer.grads
    layer.trainable_weights / layer.grads       # aligned lists, Keras order

Buffers: layers never write into the arrays they are given and callers must not edit the
arrays layers return (see :mod:`gdsim.nn.base`).

Frozen layers (``trainable = False``) behave as in Keras: ``trainable_weights`` and
``grads`` are empty, ``non_trainable_weights`` holds every weight, and BatchNormalization
normalizes with its moving statistics even when ``training=True``.

The base class lives in :mod:`gdsim.nn.base`; Conv2D, MaxPooling2D and BatchNormalization
live in :mod:`gdsim.nn.conv`, :mod:`gdsim.nn.pooling`, :mod:`gdsim.nn.normalization`. All are
re-exported here: ``from gdsim.nn.layers import Conv2D`` works.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import background
from gdsim.nn._reduce import column_sums
from gdsim.nn.base import Layer, normalize_data_format
from gdsim.nn import activations as _activations
from gdsim.nn import initializers as _initializers

__all__ = ["Layer", "Dense", "Activation", "ReLU", "Flatten", "Dropout", "Conv2D", "MaxPooling2D",
           "BatchNormalization", "normalize_data_format"]


# ---------------------------------------------------------------------------------------
class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` (``keras.layers.Dense``).

    Shapes: ``x (N, ..., in)``, ``kernel (in, units)``, ``bias (units,)``, ``y (N, ..., units)``.
    Backward (``g = dL/dz`` for ``z = x @ kernel + bias``): ``dkernel = x^T g`` (summed over all
    leading axes), ``dbias = sum g``, ``dx = g @ kernel^T``.
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
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        if not self.use_bias:
            self._trainable_names = ("kernel",)

    def _build(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ValueError(f"Dense layer {self.name!r} needs inputs of rank >= 2 (batch, ..., "
                             f"features), got input_shape {input_shape}")
        self.kernel = self.kernel_initializer((input_shape[-1], self.units), self.dtype, rng)
        if self.use_bias:
            self.bias = self.bias_initializer((self.units,), self.dtype, rng)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        x = self._check_input(x)
        y = x @ self.kernel
        if self.use_bias:
            y += self.bias
        y = self.activation.forward(y, out=y)
        self._x, self._y = x, y
        return y

    def backward(self, grad_output):
        g = self.activation.backward(self._y, grad_output)
        x = self._x
        if self.trainable:
            self._set_grads(self._weight_grads, x.reshape(-1, x.shape[-1]), g.reshape(-1, self.units))
        else:
            self.grads = []
        if not self.compute_input_grad:
            return None
        return g @ self.kernel.T

    @property
    def keeps_output(self) -> bool:
        return self.activation.reads_output

    def _weight_grads(self, x2: np.ndarray, g2: np.ndarray) -> list[np.ndarray]:
        """``[dkernel, dbias]`` from ``x (M, in)`` and ``g = dL/dz (M, units)``."""
        return [x2.T @ g2] + ([column_sums(g2)] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer.name,
                "bias_initializer": self.bias_initializer.name}


class Activation(Layer):
    """``y = f(x)`` for ``f`` in ``"relu"``, ``"softmax"`` (last axis), ``"sigmoid"``, ``"tanh"``,
    ``"linear"`` (``keras.layers.Activation``); see :mod:`gdsim.nn.activations` for the
    derivatives."""

    def __init__(self, activation: str | None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.activation = _activations.get(activation)  # None -> "linear", as in Keras

    def forward(self, x, training=False):
        out = self._overwritable(x, self.scratch_input)
        x = self._check_input(x)
        y = self.activation.forward(x, out=out)
        self._y = y
        return y

    def backward(self, grad_output):
        self.grads = []
        out = self._overwritable(grad_output, self.scratch_grad_output)
        if out is not None and out.shape != self._y.shape:
            out = None
        return self.activation.backward(self._y, grad_output, out=out)

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


class Flatten(Layer):
    """``(N, d1, ..., dk) -> (N, d1*...*dk)`` in C order (``keras.layers.Flatten``).

    With ``data_format="channels_first"`` Keras 3 first moves the channel axis last, so the
    feature index is ``(h*W + w)*C + c`` in both formats (a model flattened either way feeds a
    Dense kernel the same rows).
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
        x = self._check_input(x)
        if self._transposes():
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output):
        self.grads = []
        shape = self.build_input_shape
        if self._transposes():
            channels_last = shape[1:] + shape[:1]
            g = grad_output.reshape((-1,) + channels_last)
            return np.moveaxis(g, -1, 1)
        return grad_output.reshape((-1,) + shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _select(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``where(mask, values, 0)`` (Keras's select), in place on ``values``; multiplying by the
    mask is much faster and identical unless ``values`` holds inf/NaN."""
    if _activations.all_finite(values):
        values *= mask
        return values
    return np.where(mask, values, np.zeros((), values.dtype))


class Dropout(Layer):
    """Inverted dropout (``keras.layers.Dropout``).

    Training: ``y = x / (1 - rate)`` where the mask keeps an element (probability
    ``1 - rate``), else 0; inference: ``y = x``. Backward: ``dx = g / (1 - rate)`` on the same
    mask. ``noise_shape`` (batch axis included, ``None`` = take x's size) shares one mask along
    axes of size 1, as Keras does.

    Masks come from a NumPy Generator: ``numpy.random.default_rng(seed)`` if ``seed`` is given,
    else the generator passed to :meth:`build`; each training forward draws a new mask. Keras's
    masks (Philox / threefry) cannot be reproduced in NumPy; the distribution is the same.
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.rate = _validate.in_range("rate", rate, 0.0, 1.0, high_open=False)
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not isinstance(noise_shape, Sequence):
                raise TypeError(f"noise_shape must be a tuple of ints or None, got {_validate.show(noise_shape)}")
            noise_shape = tuple(None if d is None else _validate.integer(f"noise_shape[{i}]", d, minimum=1)
                                for i, d in enumerate(noise_shape))
        self.noise_shape = noise_shape
        self.seed = None if seed is None else _validate.integer("seed", seed, minimum=0)
        self._mask: np.ndarray | None = None
        self._rng: np.random.Generator | None = None
        self._prefetched: tuple | None = None  # (mask shape, generator state before, Future)

    def _build(self, input_shape, rng):
        if self.seed is not None:
            self._rng = np.random.default_rng(self.seed)
        else:
            self._rng = rng  # may stay None when rate == 0 (never draws)
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape) + 1:
            raise ValueError(f"noise_shape {self.noise_shape} of layer {self.name!r} must have rank "
                             f"{len(input_shape) + 1} (batch axis included)")

    def _mask_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return x_shape
        return tuple(s if d is None else d for d, s in zip(self.noise_shape, x_shape))

    def forward(self, x, training=False):
        x = self._check_input(x)
        self._mask = None
        if not training or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            self._mask = np.zeros(x.shape, dtype=bool)
            return np.zeros_like(x)
        if self._rng is None:
            raise TypeError(f"Dropout layer {self.name!r} has no seed: build() needs rng, "
                            "a numpy.random.Generator")
        mask = self._take_mask(self._mask_shape(x.shape))
        self._mask = mask
        keep = 1.0 - self.rate
        y = np.divide(x, self.dtype.type(keep))  # Keras divides x / keep_prob (not * 1/keep)
        return _select(mask, y)

    def _draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        # The dtype of the uniforms does not change the Bernoulli law.
        return self._rng.random(shape, dtype=np.float32) < (1.0 - self.rate)

    def prefetch(self, batch_size: int) -> None:
        """Start drawing the next training mask for a batch of ``batch_size`` on the background
        thread (:mod:`gdsim.nn.background`), so that it overlaps the layers before this one.

        Same bits: it is the draw the next training ``forward`` would make (the generator
        advances once per mask either way). A mask no forward takes (another batch size, or
        a step that failed first: :meth:`discard_prefetch`) is undone by rewinding the
        generator, so no draw is ever skipped or repeated."""
        if self._prefetched is not None or self._rng is None or not 0.0 < self.rate < 1.0:
            return
        shape = self._mask_shape((batch_size,) + self.build_input_shape)
        before = self._rng.bit_generator.state
        self._prefetched = (shape, before, background.submit(self._draw_mask, shape))

    def discard_prefetch(self) -> None:
        if self._prefetched is not None:
            _, before, future = self._prefetched
            future.result()  # let the draw finish before rewinding the generator past it
            self._rng.bit_generator.state = before
            self._prefetched = None

    def _take_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        if self._prefetched is not None and self._prefetched[0] == shape:
            mask = self._prefetched[2].result()
            self._prefetched = None
            return mask
        self.discard_prefetch()
        return self._draw_mask(shape)

    def backward(self, grad_output):
        self.grads = []
        if self._mask is None:
            return grad_output
        if self.rate == 1.0:
            return np.zeros_like(grad_output)
        g = np.divide(grad_output, self.dtype.type(1.0 - self.rate),
                      out=self._overwritable(grad_output, self.scratch_grad_output))
        return _select(self._mask, g)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


# Re-exports: these modules import only gdsim.nn.base, so there is no import cycle.
from gdsim.nn.conv import Conv2D  # noqa: E402
from gdsim.nn.normalization import BatchNormalization  # noqa: E402
from gdsim.nn.pooling import MaxPooling2D  # noqa: E402
