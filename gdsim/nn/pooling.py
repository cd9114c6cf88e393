"""MaxPooling2D with the gradient routed to the first maximum of each window (as Keras/JAX)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim.nn import background
from gdsim.nn import im2col as _im2col
from gdsim.nn.base import Layer, normalize_data_format
from gdsim.nn.conv import pair, padding_mode


def _running_max(parts: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Element-wise maximum of equally shaped arrays, left to right, into ``out`` (default: a
    new C-order array)."""
    if out is None:
        out = np.empty(parts[0].shape, parts[0].dtype)
    if len(parts) == 1:
        np.copyto(out, parts[0])
        return out
    np.maximum(parts[0], parts[1], out=out)
    for part in parts[2:]:
        np.maximum(out, part, out=out)
    return out


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

    Computation: a running ``np.maximum`` over the ``ph*pw`` window offsets, each a strided
    view of the (padded) input (when the windows tile the input exactly: first over window
    rows, then over window columns, see :meth:`_tiled_max`); backward walks the offsets in the same order, sending ``g`` to
    the first offset equal to the max (a bool mask of the windows already served).
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
        return _im2col.image_dims(f"MaxPooling2D layer {self.name!r}", input_shape, self.data_format)

    def _geometry(self, h, w):
        return _im2col.window_geometry(h, w, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        h, w, c = self._hwc(tuple(input_shape))
        rows, cols = self._geometry(h, w)
        return (c, rows.out, cols.out) if self.data_format == "channels_first" else (rows.out, cols.out, c)

    def _build(self, input_shape, rng):
        h, w, c = self._hwc(input_shape)
        self._hw = (h, w, c)
        self._rows, self._cols = self._geometry(h, w)

    def _offset_slices(self):
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        row_end, col_end = sh * (self._rows.out - 1) + 1, sw * (self._cols.out - 1) + 1
        for a in range(ph):
            for b in range(pw):
                yield (slice(None), slice(a, a + row_end, sh), slice(b, b + col_end, sw), slice(None))

    def _tiled(self, padded_shape: tuple[int, ...]) -> bool:
        """Windows tile the (padded) input exactly: every element lies in exactly one window."""
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return ((sh, sw) == (ph, pw) and sh * self._rows.out == padded_shape[1]
                and sw * self._cols.out == padded_shape[2])

    def _tiled_max(self, xp: np.ndarray, out: np.ndarray) -> None:
        """Window maxima of a C-contiguous, exactly tiled ``xp (N, Ho*ph, Wo*pw, C)`` into
        ``out (N, Ho, Wo, C)``.

        First over the window rows, each operand a contiguous run of ``Wo*pw*C`` values (NumPy's
        fast loop), then over the window columns on the ``ph`` times smaller result. Maxima in
        another grouping than the row-major sweep: the same value (only the sign of a zero tie
        could differ); NaN propagates either way.
        """
        (ph, pw) = self.pool_size
        n, _, _, c = xp.shape
        rows, cols = self._rows.out, self._cols.out
        x6 = xp.reshape(n, rows, ph, cols, pw, c)
        by_rows = _running_max([x6[:, :, a] for a in range(ph)])  # (N, Ho, Wo, pw, C)
        _running_max([by_rows[:, :, :, b] for b in range(pw)], out=out)

    def _window_max(self, xp: np.ndarray, out: np.ndarray) -> None:
        """Window maxima of (any batch slice of) the padded input into ``out``."""
        if self._tiled(xp.shape) and xp.flags.c_contiguous:
            self._tiled_max(xp, out)
        else:
            _running_max([xp[index] for index in self._offset_slices()], out=out)

    def forward(self, x, training=False):
        x = self._check_input(x)
        nhwc = x.transpose(0, 2, 3, 1) if self.data_format == "channels_first" else x
        xp = _im2col.pad_nhwc(nhwc, self._rows, self._cols, -np.inf)
        best = np.empty((xp.shape[0], self._rows.out, self._cols.out, xp.shape[3]), xp.dtype)
        self._window_max(xp, best)  # (not in two halves: measured no faster, unlike backward)
        self._cache = (xp, best)
        # Where each window's gradient will go depends on the forward only: during a model's
        # training step it is worked out on the background thread while the next layers run.
        self._hits = background.submit(self._first_hits, xp, best) if training and self.use_background \
            else None
        self._batch = x.shape[0]
        if self.data_format == "channels_first":
            return np.ascontiguousarray(best.transpose(0, 3, 1, 2))
        return best

    def backward(self, grad_output):
        self.grads = []
        xp, best = self._cache
        g = np.asarray(grad_output)
        if self.data_format == "channels_first":
            g = g.transpose(0, 2, 3, 1)
        h, w, c = self._hw
        rows, cols = self._rows, self._cols
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        overlapping = sh < ph or sw < pw
        tiled = self._tiled(xp.shape)
        # every input element lies in exactly one window when tiled: no zero-fill needed
        dxp = (np.empty if tiled else np.zeros)(xp.shape, dtype=g.dtype)
        pending, self._hits = getattr(self, "_hits", None), None
        hits = pending.result() if pending is not None else self._first_hits(xp, best)
        self._in_halves(lambda rows: self._scatter([hit[rows] for hit in hits], g[rows], dxp[rows],
                                                   overlapping), len(g))
        dx = _im2col.crop_nhwc(dxp, rows, cols, h, w)
        if self.data_format == "channels_first":
            return np.ascontiguousarray(dx.transpose(0, 3, 1, 2))
        return np.ascontiguousarray(dx)

    def _in_halves(self, fn, batch: int) -> None:
        """``fn(slice(0, batch))``; during a model's training step, ``fn`` on the second half of
        the batch on the background thread at the same time (samples are independent: same
        bits)."""
        half = batch // 2
        if not (self.use_background and half):
            fn(slice(0, batch))
            return
        pending = background.submit(fn, slice(half, batch))
        fn(slice(0, half))
        pending.result()

    def _first_hits(self, xp: np.ndarray, best: np.ndarray) -> list[np.ndarray]:
        """One bool array per window offset (row-major), shaped like ``best``: True where that
        offset holds the window's maximum and no earlier offset does (ties go to the first)."""
        hits, taken = [], None
        for index in self._offset_slices():
            hit = xp[index] == best
            if taken is None:
                taken = hit.copy()
            else:
                hit &= ~taken
                taken |= hit
            hits.append(hit)
        return hits

    def _scatter(self, hits: Sequence[np.ndarray], g: np.ndarray, dxp: np.ndarray,
                 overlapping: bool) -> None:
        """Add each window's gradient ``g`` into ``dxp`` at its first maximum (any batch slice
        of ``g``, ``dxp`` and the hit masks)."""
        for index, hit in zip(self._offset_slices(), hits):
            if overlapping:
                dxp[index] += g * hit
            else:
                np.multiply(g, hit, out=dxp[index])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}
