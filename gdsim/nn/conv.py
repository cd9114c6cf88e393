"""Conv2D as im2col + one GEMM (``keras.layers.Conv2D``)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import activations as _activations
from gdsim.nn import initializers as _initializers
from gdsim.nn import im2col as _im2col
from gdsim.nn._reduce import Folded, column_sums
from gdsim.nn.base import Layer, normalize_data_format


def pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of positive ints (Keras's ``standardize_tuple``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
        raise TypeError(f"{name} must be a positive int or a pair of positive ints, got {_validate.show(value)}")
    return (_validate.integer(f"{name}[0]", value[0], minimum=1),
            _validate.integer(f"{name}[1]", value[1], minimum=1))


def padding_mode(value: Any) -> str:
    # Keras lower-cases padding ("SAME" works there too).
    if isinstance(value, str):
        value = value.lower()
    return _validate.choice("padding", value, ["valid", "same"])


class Conv2D(Layer):
    """2-D cross-correlation (no kernel flip), ``keras.layers.Conv2D``.

    ``y[n, i, j, f] = activation(sum_{a,b,c} xpad[n, i*sh + a, j*sw + b, c] K[a, b, c, f] + bias[f])``

    Shapes: kernel ``(kh, kw, C_in, filters)`` in *both* data formats (as Keras), bias
    ``(filters,)``; ``x (N, H, W, C)`` for ``"channels_last"`` or ``(N, C, H, W)`` for
    ``"channels_first"``; output likewise with ``(Ho, Wo, filters)``. Padding geometry as in
    :mod:`gdsim.nn.im2col` (Keras's uneven ``"same"`` split, extra at the bottom/right).

    Computation: the patch matrix ``P (N*Ho*Wo, kh*kw*C)`` times ``K`` reshaped
    ``(kh*kw*C, F)``, one GEMM. An unpadded 1x1 convolution uses the input itself as ``P`` (a
    reshape); otherwise ``P^T`` is built channel-major by :func:`gdsim.nn.im2col.im2col_t` into
    a buffer reused across batches. Backward with ``G = dL/dz`` reshaped ``(N*Ho*Wo, F)``:
    ``dK = P^T G``, ``dbias = sum G``, ``dx = col2im(K G^T)``.
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
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        if not self.use_bias:
            self._trainable_names = ("kernel",)
        # (padded input, patch matrix) buffers reused from batch to batch: slot 0 for forward's
        # own im2col, slots 1 and 2 in turn for batches staged ahead (see prepare_input)
        self._buffers: list[list[np.ndarray | None]] = [[None, None] for _ in range(3)]
        self._next_stage = 0
        # id(x) -> (x, its patch matrix, buffer slot): written on the background thread while
        # forward takes its own batch's entry, so each batch has its own key
        self._staged: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    # -- geometry -------------------------------------------------------------------------
    def _hwc(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        return _im2col.image_dims(f"Conv2D layer {self.name!r}", input_shape, self.data_format)

    def _geometry(self, h: int, w: int) -> tuple[_im2col.Axis, _im2col.Axis]:
        return _im2col.window_geometry(h, w, self.kernel_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        h, w, _ = self._hwc(tuple(input_shape))
        rows, cols = self._geometry(h, w)
        if self.data_format == "channels_first":
            return (self.filters, rows.out, cols.out)
        return (rows.out, cols.out, self.filters)

    def _build(self, input_shape, rng):
        h, w, c = self._hwc(input_shape)
        self._rows, self._cols_geom = self._geometry(h, w)
        self._hw = (h, w)
        kh, kw = self.kernel_size
        self.kernel = self.kernel_initializer((kh, kw, c, self.filters), self.dtype, rng)
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype, rng)
        # A 1x1 window over an unpadded input is a plain reshape: no im2col copy.
        self._pointwise = (kh == kw == 1 and self._rows.before == self._rows.after == 0
                           and self._cols_geom.before == self._cols_geom.after == 0)

    # -- computation ----------------------------------------------------------------------
    def forward(self, x, training=False):
        x = self._check_input(x)
        channels_first = self.data_format == "channels_first"
        sh, sw = self.strides
        rows, cols = self._rows, self._cols_geom
        kernel = self.kernel.reshape(-1, self.filters)
        if self._pointwise:
            nhwc = x.transpose(0, 2, 3, 1) if channels_first else x
            view = nhwc[:, :sh * (rows.out - 1) + 1:sh, :sw * (cols.out - 1) + 1:sw, :]
            patches = view.reshape(-1, view.shape[-1])  # copies only if x is not contiguous
            z = np.matmul(patches, kernel, out=self._z_buffer(patches.shape[0], kernel.dtype))
        else:
            staged = self._staged.pop(id(x), None)
            # transposed patch matrix (kh*kw*C, N*Ho*Wo)
            patches = staged[1] if staged is not None and staged[0] is x else self._im2col(x, 0)
            z = np.matmul(patches.T, kernel, out=self._z_buffer(patches.shape[1], kernel.dtype))
        if self.use_bias:
            fold = Folded(z.shape[0], self.filters)  # long inner loop for the broadcast add
            wide = fold.view(z)
            wide += fold.tile(self.bias)
        z = self.activation.forward(z, out=z)
        self._patches_cache, self._z = patches, z
        self._batch = x.shape[0]
        y = z.reshape(self._batch, rows.out, cols.out, self.filters)
        if channels_first:
            y = np.ascontiguousarray(y.transpose(0, 3, 1, 2))
        return y

    def _z_buffer(self, rows: int, dtype: Any) -> np.ndarray:
        """Where the GEMM writes ``z (N*Ho*Wo, F)``: during a model's training step the same
        array every step (its last step's contents are dead), else a fresh one."""
        return self._buffer("z", (rows, self.filters), np.result_type(dtype, self.dtype),
                            self.reuse_buffers)

    def _im2col(self, x: np.ndarray, slot: int) -> np.ndarray:
        """The transposed patch matrix of ``x``, built in buffer slot ``slot``."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        rows, cols = self._rows, self._cols_geom
        cnhw = x.transpose(1, 0, 2, 3) if self.data_format == "channels_first" else x.transpose(3, 0, 1, 2)
        pad, patches = self._buffers[slot]
        pad = _im2col.pad_cnhw(cnhw, rows, cols, 0.0, pad)
        patches = _im2col.im2col_t(pad, kh, kw, sh, sw, rows.out, cols.out, patches)
        self._buffers[slot] = [pad, patches]
        return patches

    def prepare_input(self, x: np.ndarray) -> None:
        """Build the patch matrix of a coming batch ``x`` now, so that ``forward(x)`` (called
        with this very array) starts at the GEMM. A model stages its next batch this way on the
        background thread during the current step; the im2col copy is the same either way.
        Two staging buffers alternate: the batch in flight keeps its patch matrix (its backward
        pass needs it) while the next one is built."""
        if self._pointwise or not self.built or x.shape[1:] != self.build_input_shape \
                or x.dtype != self.dtype:
            return
        slot = 1 + self._next_stage
        self._next_stage ^= 1
        for key, (_, _, used) in list(self._staged.items()):
            if used == slot:  # a batch staged two calls ago and never taken: its buffer goes now
                self._staged.pop(key, None)
        self._staged[id(x)] = (x, self._im2col(x, slot), slot)

    def backward(self, grad_output):
        g = np.asarray(grad_output)
        channels_first = self.data_format == "channels_first"
        if channels_first:
            g = g.transpose(0, 2, 3, 1)
        g = g.reshape(-1, self.filters)
        g = self.activation.backward(self._z, g)
        kernel = self.kernel.reshape(-1, self.filters)
        if self.trainable:
            self._set_grads(self._weight_grads, self._patches_cache, g)
        else:
            self.grads = []
        if not self.compute_input_grad:
            return None
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        rows, cols = self._rows, self._cols_geom
        h, w = self._hw
        c = self.kernel.shape[2]
        n = self._batch
        if self._pointwise:
            dpatches = (g @ kernel.T).reshape(n, rows.out, cols.out, c)
            if sh == sw == 1 and rows.out == h and cols.out == w:
                dx = dpatches
            else:
                dx = np.zeros((n, h, w, c), dtype=dpatches.dtype)
                dx[:, :sh * (rows.out - 1) + 1:sh, :sw * (cols.out - 1) + 1:sw, :] = dpatches
            return np.ascontiguousarray(dx.transpose(0, 3, 1, 2)) if channels_first else dx
        padded = (c, n, h + rows.before + rows.after, w + cols.before + cols.after)
        dxp = _im2col.col2im_t(kernel @ g.T, padded, kh, kw, sh, sw, rows.out, cols.out)
        dx = dxp[:, :, rows.before:rows.before + h, cols.before:cols.before + w]  # (C, N, H, W)
        return np.ascontiguousarray(dx.transpose(1, 0, 2, 3) if channels_first else dx.transpose(1, 2, 3, 0))

    @property
    def keeps_output(self) -> bool:
        return self.activation.reads_output

    def _weight_grads(self, patches: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
        """``[dkernel, dbias]`` from the patch matrix and ``g = dL/dz`` ``(N*Ho*Wo, F)``."""
        dkernel = (patches.T @ g) if self._pointwise else (patches @ g)
        return [dkernel.reshape(self.kernel.shape)] + ([column_sums(g)] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "activation": self.activation.name, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer.name,
                "bias_initializer": self.bias_initializer.name}
