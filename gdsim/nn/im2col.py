"""Window geometry, padding and im2col/col2im for NHWC images (no loops over pixels).

Geometry follows Keras 3 (``keras.src.ops.operation_utils.compute_conv_output_shape`` and the
backends' ``"SAME"`` padding):

- ``"valid"``: ``out = floor((n - k) / s) + 1``, no padding (trailing rows a window cannot
  reach are ignored);
- ``"same"``: ``out = ceil(n / s)``, ``total = max((out - 1) s + k - n, 0)``, ``before =
  total // 2``, ``after = total - before``: the extra row/column goes to the bottom/right.
  (H5 k3 s1 -> 1/1, H4 k3 s2 -> 0/1, H6 k2 s1 -> 0/1, H5 k4 s2 -> 1/2.)

im2col copies one strided block per kernel offset into a channel-major patch matrix, and
col2im scatters back with one strided ``+=`` per offset (``kh * kw`` vectorized block
operations, never a loop over pixels, channels or samples).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gdsim import _validate


class Axis(NamedTuple):
    """Geometry of one spatial axis: output length and padding before/after."""

    out: int
    before: int
    after: int


def image_dims(layer: str, input_shape: tuple[int, ...], data_format: str) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a per-sample image shape in either data format."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer} needs inputs of rank 4 (batch + 3 axes), got input_shape "
                         f"{input_shape} (batch axis excluded)")
    if data_format == "channels_first":
        c, h, w = input_shape
    else:
        h, w, c = input_shape
    return h, w, c


def axis_geometry(size: int, kernel: int, stride: int, padding: str) -> Axis:
    """Output length and padding split of one spatial axis (see the module docstring)."""
    if padding == "valid":
        out = (size - kernel) // stride + 1
        if size < kernel or out < 1:
            raise ValueError(f"input size {size} is smaller than the window size {kernel} with "
                             "padding='valid': the output would be empty")
        return Axis(out, 0, 0)
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return Axis(out, total // 2, total - total // 2)
    raise ValueError(f"padding must be 'valid' or 'same', got {_validate.show(padding)}")


def window_geometry(height: int, width: int, window: tuple[int, int], strides: tuple[int, int],
                    padding: str) -> tuple[Axis, Axis]:
    """:func:`axis_geometry` of both spatial axes for a ``(rows, cols)`` window and strides."""
    return (axis_geometry(height, window[0], strides[0], padding),
            axis_geometry(width, window[1], strides[1], padding))


def pad_nhwc(x: np.ndarray, rows: Axis, cols: Axis, value: float,
             buffer: np.ndarray | None = None) -> np.ndarray:
    """``x (N, H, W, C)`` padded with ``value``; reuses ``buffer`` when its shape fits (its border
    must already hold ``value``: only the interior is written)."""
    if rows.before == rows.after == cols.before == cols.after == 0:
        return x
    n, h, w, c = x.shape
    shape = (n, h + rows.before + rows.after, w + cols.before + cols.after, c)
    if buffer is None or buffer.shape != shape or buffer.dtype != x.dtype:
        buffer = np.full(shape, value, dtype=x.dtype)
    buffer[:, rows.before:rows.before + h, cols.before:cols.before + w, :] = x
    return buffer


def pad_cnhw(x_cnhw: np.ndarray, rows: Axis, cols: Axis, value: float,
             buffer: np.ndarray | None = None) -> np.ndarray:
    """``x (C, N, H, W)`` (any strides, e.g. a transposed NHWC view) copied into a contiguous,
    padded ``(C, N, Hp, Wp)`` array; reuses ``buffer`` when its shape fits (its border must
    already hold ``value``). Without padding the result is ``x`` made contiguous."""
    c, n, h, w = x_cnhw.shape
    shape = (c, n, h + rows.before + rows.after, w + cols.before + cols.after)
    if buffer is None or buffer.shape != shape or buffer.dtype != x_cnhw.dtype:
        buffer = np.full(shape, value, dtype=x_cnhw.dtype)
    buffer[:, :, rows.before:rows.before + h, cols.before:cols.before + w] = x_cnhw
    return buffer


def _offset(a: int, b: int, sh: int, sw: int, out_h: int, out_w: int) -> tuple[slice, slice]:
    return slice(a, a + sh * (out_h - 1) + 1, sh), slice(b, b + sw * (out_w - 1) + 1, sw)


def im2col_t(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int,
             buffer: np.ndarray | None = None) -> np.ndarray:
    """Transposed patch matrix ``P^T`` of shape ``(kh*kw*C, N*out_h*out_w)`` from a padded
    channel-major ``xp (C, N, Hp, Wp)``: ``P^T[(a*kw + b)*C + c, (n*out_h + i)*out_w + j] =
    xp[c, n, i*sh + a, j*sw + b]``. Rows are in ``(a, b, c)`` order, so ``P^T`` pairs with a
    Keras kernel ``(kh, kw, C, F)`` reshaped to ``(kh*kw*C, F)``: ``z = P^T.T @ K``.

    Channel-major keeps the innermost copy loop over image columns (long, contiguous) rather
    than over channels (3 for an RGB input): ``kh*kw`` block copies, 1.5-4x faster than
    copying NHWC windows."""
    c, n = xp.shape[0], xp.shape[1]
    shape = (kh * kw * c, n * out_h * out_w)
    if buffer is None or buffer.shape != shape or buffer.dtype != xp.dtype:
        buffer = np.empty(shape, dtype=xp.dtype)
    blocks = buffer.reshape(kh, kw, c, n, out_h, out_w)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _offset(a, b, sh, sw, out_h, out_w)
            blocks[a, b] = xp[:, :, rows, cols]
    return buffer


def col2im_t(cols_t: np.ndarray, padded_shape: tuple[int, int, int, int], kh: int, kw: int,
             sh: int, sw: int, out_h: int, out_w: int) -> np.ndarray:
    """Adjoint of :func:`im2col_t`: ``(kh*kw*C, N*out_h*out_w)`` -> ``(C, N, Hp, Wp)``, summing
    the contributions of overlapping windows (one strided ``+=`` per kernel offset)."""
    c, n = padded_shape[0], padded_shape[1]
    blocks = cols_t.reshape(kh, kw, c, n, out_h, out_w)
    result = np.zeros(padded_shape, dtype=cols_t.dtype)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _offset(a, b, sh, sw, out_h, out_w)
            result[:, :, rows, cols] += blocks[a, b]
    return result


def crop_nhwc(xp: np.ndarray, rows: Axis, cols: Axis, height: int, width: int) -> np.ndarray:
    """The interior of a padded ``(N, Hp, Wp, C)`` array (a view)."""
    return xp[:, rows.before:rows.before + height, cols.before:cols.before + width, :]
