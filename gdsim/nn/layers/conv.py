"""Conv2D as im2col + one GEMM (``keras.layers.Conv2D``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import activations as _activations
from gdsim.nn import initializers as _initializers
from gdsim.nn import ops
from gdsim.nn.arguments import normalize_data_format, padding_mode, pair
from gdsim.nn.layers.base import Layer


class Conv2D(Layer):
    """2-D cross-correlation (no kernel flip), ``keras.layers.Conv2D``.

    ``y[n, i, j, f] = activation(sum_{a,b,c} xpad[n, i*sh + a, j*sw + b, c] K[a, b, c, f] + bias[f])``

    Shapes: kernel ``(kh, kw, C_in, filters)`` in *both* data formats (as Keras), bias
    ``(filters,)``; ``x (N, H, W, C)`` for ``"channels_last"`` or ``(N, C, H, W)`` for
    ``"channels_first"``; output likewise with ``(Ho, Wo, filters)``. Padding geometry as in
    :mod:`gdsim.nn.ops` (Keras's uneven ``"same"`` split, extra at the bottom/right).

    Computation: the patch matrix ``P (N*Ho*Wo, kh*kw*C)`` times ``K`` reshaped
    ``(kh*kw*C, F)``, one GEMM (:func:`gdsim.nn.ops.conv_gemm`); an unpadded 1x1 convolution
    uses the input itself as ``P``. Backward with ``G = dL/dz`` reshaped ``(N*Ho*Wo, F)``:
    ``dK = P^T G``, ``dbias = sum G``, ``dx = col2im(K G^T)``. Each half of the batch
    (:func:`gdsim.nn.ops.batch_parts`) is computed apart, and ``dK``, ``dbias`` add the halves'
    sums in order (:func:`gdsim.nn.ops.add_in_order`).
    """

    _trainable_names = ("kernel", "bias")

    def __init__(self, filters: int, kernel_size: int | Sequence[int], strides: int | Sequence[int] = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str | _initializers.Initializer = "glorot_uniform",
                 bias_initializer: str | _initializers.Initializer = "zeros",
                 input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        super().__init__(input_shape=input_shape, name=name, trainable=trainable)
        self.filters = _validate.integer("filters", filters, minimum=1)
        self.kernel_size = pair("kernel_size", kernel_size)
        self.strides = pair("strides", strides)
        self.padding = padding_mode(padding)
        self.data_format = normalize_data_format(data_format)
        self.activation = _activations.get(activation)
        self.use_bias = _validate.boolean("use_bias", use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = _initializers.get(bias_initializer, "bias_initializer")
        if not self.use_bias:
            self._trainable_names = ("kernel",)

    def _geometry(self, input_shape: tuple[int, ...]) -> ops.ConvGeometry:
        h, w, c = ops.image_dims(f"Conv2D layer {self.name!r}", input_shape, self.data_format)
        rows, cols = ops.window_geometry(h, w, self.kernel_size, self.strides, self.padding)
        return ops.ConvGeometry(self.kernel_size, self.strides, rows, cols, h, w, c, self.data_format)

    def compute_output_shape(self, input_shape):
        geo = self._geometry(tuple(input_shape))
        if self.data_format == "channels_first":
            return (self.filters, geo.rows.out, geo.cols.out)
        return (geo.rows.out, geo.cols.out, self.filters)

    def _build(self, input_shape, rng):
        #: the window geometry of the built input shape (:class:`gdsim.nn.ops.ConvGeometry`)
        self.geometry = self._geometry(input_shape)
        kh, kw = self.kernel_size
        self._check_weights_fit(kh * kw * self.geometry.channels * self.filters,
                                f"{kh}x{kw} kernels, {_validate.count(self.geometry.channels)} "
                                f"channels, {_validate.count(self.filters)} filters")
        self.kernel = self.kernel_initializer((kh, kw, self.geometry.channels, self.filters),
                                              self.dtype, rng)
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype, rng)

    def forward(self, x, training=False):
        x = self.check_input(x)
        geo = self.geometry
        parts = ops.batch_parts(x.shape)
        if geo.pointwise:
            patches = [ops.conv_pointwise_patches(x[part], geo) for part in parts]
        else:
            patches = [ops.conv_patches(x[part], geo)[1] for part in parts]
        z = np.concatenate([ops.conv_gemm(p, self.kernel, geo) for p in patches])
        if self.use_bias:
            z = z + self.bias
        z = self.activation.forward(z)
        self._patches, self._z, self._parts = patches, z, parts
        return ops.from_nhwc(z.reshape(x.shape[0], geo.rows.out, geo.cols.out, self.filters),
                             self.data_format)

    def backward(self, grad_output):
        g = ops.to_nhwc(grad_output, self.data_format).reshape(-1, self.filters)
        g = self.activation.backward(self._z, g)
        rows = self.geometry.rows.out * self.geometry.cols.out  # rows of g per sample
        g_parts = [g[ops.part_rows(part, rows)] for part in self._parts]
        if self.trainable:
            self.grads = self.weight_grads(self._patches, g_parts)
        else:
            self.grads = []
        return np.concatenate([ops.conv_input_grad(gp, self.kernel, self.geometry, part.stop - part.start)
                               for gp, part in zip(g_parts, self._parts)])

    def weight_grads(self, patches, g_parts):
        """``[dkernel, dbias]`` from each batch part's patch matrix and ``g = dL/dz`` rows."""
        grads = [ops.add_in_order([ops.conv_kernel_grad(p, g, self.kernel.shape, self.geometry)
                                   for p, g in zip(patches, g_parts)])]
        if self.use_bias:
            grads.append(ops.add_in_order([ops.column_sums(g) for g in g_parts]))
        return grads

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "activation": self.activation.name, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer.name,
                "bias_initializer": self.bias_initializer.name}
