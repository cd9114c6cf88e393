"""MaxPooling2D with the gradient routed to the first maximum of each window (as Keras/JAX)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim.nn import ops
from gdsim.nn.arguments import normalize_data_format, padding_mode, pair
from gdsim.nn.layers.base import Layer


class MaxPooling2D(Layer):
    """``y[n, i, j, c] = max_{a<ph, b<pw} xpad[n, i*sh + a, j*sw + b, c]`` (``keras.layers.MaxPooling2D``).

    Defaults as Keras: ``pool_size=(2, 2)``, ``strides=None`` (= ``pool_size``),
    ``padding="valid"`` (odd sizes floor: 5x5 -> 2x2); ``"same"`` pads with ``-inf`` using
    the convolution split (extra row/column at the bottom/right).

    Backward: each output's gradient goes to the element that attained the maximum; when
    several tie, to the *first* in row-major window order. This is what Keras on JAX does
    (measured: window [[1, 2], [2, 1]] sends the gradient to the top-right 2; an all-zero
    window to its top-left) and it matters here because ReLU -> BatchNorm maps every dead
    unit of a channel to the same value, so ties are common in the gdsim CNN.
    Overlapping windows (``strides < pool_size``) add their contributions.

    Computation (:mod:`gdsim.nn.ops`): a running ``np.maximum`` over the ``ph*pw`` window
    offsets, each a strided view of the (padded) input (:func:`~gdsim.nn.ops.window_max`);
    backward marks, offset by offset, the first offset equal to the max
    (:func:`~gdsim.nn.ops.first_max_masks`) and sends ``g`` there.
    """

    def __init__(self, pool_size: int | Sequence[int] = (2, 2), strides: int | Sequence[int] | None = None,
                 padding: str = "valid", data_format: str | None = None,
                 input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.pool_size = pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else pair("strides", strides)
        self.padding = padding_mode(padding)
        self.data_format = normalize_data_format(data_format)

    def _hwc(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        return ops.image_dims(f"MaxPooling2D layer {self.name!r}", input_shape, self.data_format)

    def _geometry(self, h, w):
        return ops.window_geometry(h, w, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        h, w, c = self._hwc(tuple(input_shape))
        rows, cols = self._geometry(h, w)
        return (c, rows.out, cols.out) if self.data_format == "channels_first" else (rows.out, cols.out, c)

    def _build(self, input_shape, rng):
        h, w, c = self._hwc(input_shape)
        self.image_size = (h, w)
        #: ``(rows, cols)``: :class:`gdsim.nn.ops.Axis` of each spatial axis
        self.geometry = self._geometry(h, w)

    @property
    def offsets(self) -> list[tuple[slice, ...]]:
        """The strided index of each window offset into the padded input, row-major."""
        return list(ops.pool_offsets(self.pool_size, self.strides, *self.geometry))

    def forward(self, x, training=False):
        x = self.check_input(x)
        rows, cols = self.geometry
        xp = ops.pad_nhwc(ops.to_nhwc(x, self.data_format), rows, cols, -np.inf)
        best = ops.window_max(xp, self.pool_size, self.strides, rows, cols)
        self._xp, self._best = xp, best
        return ops.from_nhwc(best, self.data_format)

    def backward(self, grad_output):
        self.grads = []
        (rows, cols), (h, w) = self.geometry, self.image_size
        g = ops.to_nhwc(grad_output, self.data_format)
        dxp = np.zeros(self._xp.shape, dtype=g.dtype)
        overlapping = self.strides[0] < self.pool_size[0] or self.strides[1] < self.pool_size[1]
        masks = ops.first_max_masks(self._xp, self._best, self.offsets)
        ops.route_to_first_max(masks, g, dxp, self.offsets, overlapping)
        return ops.from_nhwc(ops.crop_nhwc(dxp, rows, cols, h, w), self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}
