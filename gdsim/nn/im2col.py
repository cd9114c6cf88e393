"""Window geometry, padding and im2col/col2im for NHWC images (no loops over pixels).

Geometry follows Keras 3 (``keras.src.ops.operation_utils.compute_conv_output_shape`` and the
backends' ``"SAME"`` padding):

- ``"valid"``: ``out = floor((n - k) / s) + 1``, no padding (trailing rows a window cannot
  reach are ignored);
- ``"same"``: ``out = ceil(n / s)``, ``total = max((out - 1) s + k - n, 0)``, ``before =
  total // 2``, ``after = total - before``: the extra row/column goes to the bottom/right.
  (H5 k3 s1 -> 1/1, H4 k3 s2 -> 0/1, H6 k2 s1 -> 0/1, H5 k4 s2 -> 1/2.)

Windows are read with ``numpy.lib.stride_tricks.as_strided`` (a view; the only copy is the
im2col matrix itself), and col2im scatters back with one strided ``+=`` per kernel offset
(``kh * kw`` vectorized adds, never a loop over pixels, channels or samples).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided


class Axis(NamedTuple):
    """Geometry of one spatial axis: output length and padding before/after."""

    out: int
    before: int
    after: int


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
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


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


def windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int) -> np.ndarray:
    """Read-only view ``(N, out_h, out_w, kh, kw, C)`` of the windows of padded ``xp (N, Hp, Wp, C)``:
    ``view[n, i, j, a, b, c] = xp[n, i*sh + a, j*sw + b, c]``. Works for any strides of ``xp``."""
    sn, sy, sx, sc = xp.strides
    return as_strided(xp, shape=(xp.shape[0], out_h, out_w, kh, kw, xp.shape[3]),
                      strides=(sn, sy * sh, sx * sw, sy, sx, sc), writeable=False)


def im2col(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int,
           buffer: np.ndarray | None = None) -> np.ndarray:
    """The ``(N*out_h*out_w, kh*kw*C)`` patch matrix, columns in ``(a, b, c)`` order so it
    multiplies a Keras kernel ``(kh, kw, C, F)`` reshaped to ``(kh*kw*C, F)``."""
    n, c = xp.shape[0], xp.shape[3]
    shape = (n * out_h * out_w, kh * kw * c)
    if buffer is None or buffer.shape != shape or buffer.dtype != xp.dtype:
        buffer = np.empty(shape, dtype=xp.dtype)
    np.copyto(buffer.reshape(n, out_h, out_w, kh, kw, c), windows(xp, kh, kw, sh, sw, out_h, out_w))
    return buffer


def col2im(cols: np.ndarray, padded_shape: tuple[int, int, int, int], kh: int, kw: int,
           sh: int, sw: int, out_h: int, out_w: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: ``(N*out_h*out_w, kh*kw*C)`` -> ``(N, Hp, Wp, C)``, summing the
    contributions of overlapping windows."""
    n, hp, wp, c = padded_shape
    patches = cols.reshape(n, out_h, out_w, kh, kw, c)
    result = np.zeros(padded_shape, dtype=cols.dtype)
    row_end, col_end = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1
    for a in range(kh):
        for b in range(kw):
            result[:, a:a + row_end:sh, b:b + col_end:sw, :] += patches[:, :, :, a, b, :]
    return result


def crop_nhwc(xp: np.ndarray, rows: Axis, cols: Axis, height: int, width: int) -> np.ndarray:
    """The interior of a padded ``(N, Hp, Wp, C)`` array (a view)."""
    return xp[:, rows.before:rows.before + height, cols.before:cols.before + width, :]
