"""The few pure kernels that decide the bits, called by both tiers.

The reference layers (:mod:`gdsim.nn.layers`) and the fast engine (:mod:`gdsim.nn.fast`) call
these same functions wherever the result depends on *how* a number is computed -- the order of
a sum, the shape of a GEMM, which maximum wins a tie, the draw of a random mask -- so the two
tiers agree bit for bit by construction. Everything else the layers do is element-wise, whose
result does not depend on layout, in-place writes or threads.

- Window geometry (Keras 3, ``keras.src.ops.operation_utils.compute_conv_output_shape``):
  ``"valid"``: ``out = floor((n - k) / s) + 1``, no padding; ``"same"``: ``out = ceil(n / s)``,
  ``total = max((out - 1) s + k - n, 0)``, ``before = total // 2``, ``after = total - before``
  (the extra row/column goes to the bottom/right: H5 k3 s1 -> 1/1, H4 k3 s2 -> 0/1).
- im2col: the transposed patch matrix ``P^T (kh*kw*C, N*Ho*Wo)``, rows in ``(a, b, c)`` order
  so that it pairs with a Keras kernel ``(kh, kw, C, F)`` reshaped ``(kh*kw*C, F)``; the GEMMs
  ``z = P^T.T @ K``, ``dK = P^T @ G``, ``dP^T = K @ G^T`` (col2im scatters it back).
- Channel sums: ``ones @ a`` (one BLAS GEMV) over a fixed grouping of the rows
  (:class:`Folded`).
- The batch's two halves (:func:`batch_parts`): a layer over images (inputs of rank > 2:
  Conv2D, BatchNormalization over feature maps) computes each half of its batch apart -- one
  im2col and one GEMM per half -- and every sum over the batch (a channel sum, ``dK``,
  ``dbias``) is the first half's plus the second's (:func:`add_in_order`). The halves are
  fixed by the batch alone, never by the number of cores, so the fast tier may give each half
  a core of its own and still compute the same bits.
- Dropout: the mask ``u < 1 - rate`` with ``u`` float32 uniforms from the layer's generator;
  ``y = select(mask, x / (1 - rate), 0)``.
- Max-pooling: a running maximum over the window offsets (tiled windows: first over window
  rows, then columns); the gradient goes to the *first* maximum in row-major window order.
- BatchNormalization's float order: ``inv = gamma / sqrt(var + eps)`` as
  ``(1 / sqrt(var + eps)) * gamma``, ``y = x*inv + (beta - mu*inv)`` (Keras, JAX backend).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn.activations import all_finite


# -- window geometry -------------------------------------------------------------------------
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


def to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    """A view of an image batch with the channel axis last."""
    return x.transpose(0, 2, 3, 1) if data_format == "channels_first" else x


def from_nhwc(y: np.ndarray, data_format: str) -> np.ndarray:
    """A channel-last image batch in ``data_format`` (C-contiguous)."""
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y)


def pad_nhwc(x: np.ndarray, rows: Axis, cols: Axis, value: float) -> np.ndarray:
    """``x (N, H, W, C)`` padded with ``value`` (``x`` itself when there is no padding)."""
    if rows.before == rows.after == cols.before == cols.after == 0:
        return x
    n, h, w, c = x.shape
    padded = np.full((n, h + rows.before + rows.after, w + cols.before + cols.after, c), value,
                     dtype=x.dtype)
    padded[:, rows.before:rows.before + h, cols.before:cols.before + w, :] = x
    return padded


def crop_nhwc(xp: np.ndarray, rows: Axis, cols: Axis, height: int, width: int) -> np.ndarray:
    """The interior of a padded ``(N, Hp, Wp, C)`` array (a view)."""
    return xp[:, rows.before:rows.before + height, cols.before:cols.before + width, :]


def pad_cnhw(x_cnhw: np.ndarray, rows: Axis, cols: Axis, value: float,
             out: np.ndarray | None = None) -> np.ndarray:
    """``x (C, N, H, W)`` (any strides, e.g. a transposed NHWC view) copied into a contiguous,
    padded ``(C, N, Hp, Wp)`` array. ``out`` of the right shape is written instead of a new
    array (its border must already hold ``value``: only the interior is written)."""
    c, n, h, w = x_cnhw.shape
    shape = (c, n, h + rows.before + rows.after, w + cols.before + cols.after)
    if out is None or out.shape != shape or out.dtype != x_cnhw.dtype:
        out = np.full(shape, value, dtype=x_cnhw.dtype)
    out[:, :, rows.before:rows.before + h, cols.before:cols.before + w] = x_cnhw
    return out


def _offset(a: int, b: int, sh: int, sw: int, out_h: int, out_w: int) -> tuple[slice, slice]:
    return slice(a, a + sh * (out_h - 1) + 1, sh), slice(b, b + sw * (out_w - 1) + 1, sw)


def im2col_t(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int,
             out: np.ndarray | None = None) -> np.ndarray:
    """Transposed patch matrix ``P^T`` of shape ``(kh*kw*C, N*out_h*out_w)`` from a padded
    channel-major ``xp (C, N, Hp, Wp)``: ``P^T[(a*kw + b)*C + c, (n*out_h + i)*out_w + j] =
    xp[c, n, i*sh + a, j*sw + b]`` (written into ``out`` when its shape fits).

    Channel-major keeps the innermost copy loop over image columns (long, contiguous) rather
    than over channels (3 for an RGB input). All ``kh*kw`` window offsets are one strided view
    of ``xp``, ``windows[a, b, c, n, i, j] = xp[c, n, i*sh + a, j*sw + b]`` (no copy), and
    ``P^T`` is that view copied once (one NumPy call: a third faster than one per offset on
    the seed CNN's first layer)."""
    c, n = xp.shape[:2]
    windows = im2col_windows(xp, kh, kw, sh, sw, out_h, out_w)
    shape = (kh * kw * c, n * out_h * out_w)
    if out is None or out.shape != shape or out.dtype != xp.dtype:
        out = np.empty(shape, dtype=xp.dtype)
    np.copyto(out.reshape(windows.shape), windows)
    return out


def im2col_windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, out_h: int, out_w: int
                   ) -> np.ndarray:
    """The read-only strided view ``windows[a, b, c, n, i, j] = xp[c, n, i*sh + a, j*sw + b]``
    of a padded ``xp (C, N, Hp, Wp)`` that :func:`im2col_t` copies (no copy here)."""
    c, n, hp, wp = xp.shape
    if kh + sh * (out_h - 1) > hp or kw + sw * (out_w - 1) > wp:
        raise ValueError(f"im2col_t: {out_h}x{out_w} windows of {kh}x{kw} with strides "
                         f"{sh}x{sw} do not fit a padded input of {hp}x{wp}")
    sc, sn, sr, sk = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (kh, kw, c, n, out_h, out_w), (sr, sk, sc, sn, sh * sr, sw * sk), writeable=False)


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


# -- the batch's two halves ------------------------------------------------------------------
def batch_parts(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The parts of a batch of ``shape`` (batch axis first) whose sums are added in order: for
    a rank > 2 batch of ``n >= 2`` samples, ``[0, ceil(n/2))`` and ``[ceil(n/2), n)``;
    otherwise (one sample, or a ``(N, features)`` matrix) the whole batch."""
    n = shape[0]
    if len(shape) <= 2 or n < 2:
        return (slice(0, n),)
    half = (n + 1) // 2
    return (slice(0, half), slice(half, n))


def part_rows(part: slice, rows_per_sample: int) -> slice:
    """The rows of a sample-major ``(N * rows_per_sample, C)`` matrix that belong to ``part``."""
    return slice(part.start * rows_per_sample, part.stop * rows_per_sample)


def add_in_order(parts: Sequence[np.ndarray]) -> np.ndarray:
    """``parts[0] + parts[1] + ...`` left to right: the one order a sum over the batch's parts
    is combined in, whichever core computed each part."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def batch_channel_sums(a: np.ndarray, parts: Sequence[slice]) -> np.ndarray:
    """Per-channel sums of a sample-major ``(m, C)`` matrix over the batch ``parts``
    (:func:`batch_parts`): each part's :func:`channel_sums`, added in order."""
    per_sample = a.shape[0] // max(parts[-1].stop, 1)
    return add_in_order([channel_sums(a[part_rows(p, per_sample)]) for p in parts])


# -- convolution as one GEMM ---------------------------------------------------------------
class ConvGeometry(NamedTuple):
    """What a Conv2D's GEMMs need from the layer: window, strides, padding split, image size."""

    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    rows: Axis
    cols: Axis
    height: int
    width: int
    channels: int
    data_format: str

    @property
    def pointwise(self) -> bool:
        """A 1x1 window over an unpadded input: the patch matrix is the input (a reshape)."""
        return (self.kernel_size == (1, 1) and self.rows.before == self.rows.after == 0
                and self.cols.before == self.cols.after == 0)


def conv_patches(x: np.ndarray, geo: ConvGeometry, pad_out: np.ndarray | None = None,
                 patches_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The patch matrix of an image batch: ``(padded input, P^T (kh*kw*C, N*Ho*Wo))``.

    Not for a pointwise convolution (see :func:`conv_pointwise_patches`)."""
    (kh, kw), (sh, sw) = geo.kernel_size, geo.strides
    padded = pad_channel_major(x, geo, pad_out)
    return padded, im2col_t(padded, kh, kw, sh, sw, geo.rows.out, geo.cols.out, patches_out)


def pad_channel_major(x: np.ndarray, geo: ConvGeometry, out: np.ndarray | None = None) -> np.ndarray:
    """An image batch in the layer's data format as the zero-padded ``(C, N, Hp, Wp)`` that
    :func:`im2col_t` reads (:func:`pad_cnhw`: into ``out`` when it fits)."""
    cnhw = x.transpose(1, 0, 2, 3) if geo.data_format == "channels_first" else x.transpose(3, 0, 1, 2)
    return pad_cnhw(cnhw, geo.rows, geo.cols, 0.0, out)


def conv_pointwise_patches(x: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """``P (N*Ho*Wo, C)`` of a pointwise convolution: the (strided) input, reshaped."""
    sh, sw = geo.strides
    view = to_nhwc(x, geo.data_format)[:, :sh * (geo.rows.out - 1) + 1:sh,
                                       :sw * (geo.cols.out - 1) + 1:sw, :]
    return view.reshape(-1, view.shape[-1])  # copies only if x is not contiguous


def conv_gemm(patches: np.ndarray, kernel: np.ndarray, geo: ConvGeometry,
              out: np.ndarray | None = None) -> np.ndarray:
    """``z = P @ K (N*Ho*Wo, F)`` with ``K`` reshaped ``(kh*kw*C, F)`` (``patches`` is ``P^T``
    unless pointwise)."""
    k2 = kernel.reshape(-1, kernel.shape[-1])
    return np.matmul(patches if geo.pointwise else patches.T, k2, out=out)


def conv_kernel_grad(patches: np.ndarray, g: np.ndarray, kernel_shape: tuple[int, ...],
                     geo: ConvGeometry) -> np.ndarray:
    """``dK = P^T G`` reshaped like the kernel, for ``G = dL/dz (N*Ho*Wo, F)``."""
    dkernel = (patches.T @ g) if geo.pointwise else (patches @ g)
    return dkernel.reshape(kernel_shape)


def conv_input_grad(g: np.ndarray, kernel: np.ndarray, geo: ConvGeometry, batch: int,
                    out: np.ndarray | None = None) -> np.ndarray:
    """``dL/dx = col2im(K G^T)`` in the layer's data format, for ``G = dL/dz (N*Ho*Wo, F)``;
    written into ``out`` (C-contiguous, ``x``'s shape) when given."""
    (kh, kw), (sh, sw) = geo.kernel_size, geo.strides
    rows, cols, h, w, c = geo.rows, geo.cols, geo.height, geo.width, geo.channels
    k2 = kernel.reshape(-1, kernel.shape[-1])
    if geo.pointwise:
        same_grid = sh == sw == 1 and rows.out == h and cols.out == w
        if same_grid and out is not None and geo.data_format == "channels_last":
            np.matmul(g, k2.T, out=out.reshape(-1, c))  # the GEMM writes dL/dx itself
            return out
        dpatches = (g @ k2.T).reshape(batch, rows.out, cols.out, c)
        if same_grid:
            dx = dpatches
        else:
            dx = np.zeros((batch, h, w, c), dtype=dpatches.dtype)
            dx[:, :sh * (rows.out - 1) + 1:sh, :sw * (cols.out - 1) + 1:sw, :] = dpatches
        return _into(from_nhwc(dx, geo.data_format), out)
    padded = (c, batch, h + rows.before + rows.after, w + cols.before + cols.after)
    dxp = col2im_t(k2 @ g.T, padded, kh, kw, sh, sw, rows.out, cols.out)
    dx = dxp[:, :, rows.before:rows.before + h, cols.before:cols.before + w]  # (C, N, H, W)
    dx = dx.transpose(1, 0, 2, 3) if geo.data_format == "channels_first" else dx.transpose(1, 2, 3, 0)
    return _into(dx, out)


def _into(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``values`` copied into ``out``, or as a C-contiguous array of its own."""
    if out is None:
        return np.ascontiguousarray(values)
    np.copyto(out, values)
    return out


# -- channel sums ----------------------------------------------------------------------------
_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(m: int, dtype: np.dtype) -> np.ndarray:
    key = (m, np.dtype(dtype))
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:  # a handful of batch shapes in practice; never grow without bound
            _ONES.clear()
        ones = _ONES[key] = np.ones(m, dtype=dtype)
    return ones


def column_sums(a: np.ndarray) -> np.ndarray:
    """``sum_i a[i, :]`` of a 2-D array, shape ``(C,)``, in ``a``'s dtype, as one BLAS GEMV
    ``ones @ a`` (NumPy's ``a.sum(axis=0)`` on a tall, narrow matrix is a slow strided loop;
    both accumulate sequentially in the array's dtype). Summed as a C-order matrix whatever
    ``a``'s strides (BLAS groups a strided matrix's additions differently)."""
    if a.ndim != 2:
        raise ValueError(f"column_sums needs a 2-D array, got shape {a.shape}")
    if a.shape[0] == 0:
        return np.zeros(a.shape[1], dtype=a.dtype)
    return _ones(a.shape[0], a.dtype) @ np.ascontiguousarray(a)


def fold_factor(rows: int, columns: int, target: int = 256) -> int:
    """The smallest ``r`` dividing ``rows`` with ``r * columns >= target`` (1 if none)."""
    if columns >= target:
        return 1
    for r in range(-(-target // columns), rows + 1):
        if rows % r == 0:
            return r
    return 1


class Folded:
    """A ``(m, C)`` matrix viewed as ``(m / r, r*C)``: the grouping of per-channel sums.

    :meth:`sums` sums a C-order ``(m, C)`` matrix as its ``(m / r_sum, r_sum*C)`` view (the
    ``r_sum`` partial sums of each channel then added in order); this grouping, not the view a
    caller works in, fixes every rounding. The fast tier also broadcasts per-channel vectors
    over a wider view ``(m / r, r*C)`` (:meth:`view`, :meth:`tile`), where NumPy's inner loop is
    long; element-wise arithmetic gives the same bits in any view.
    """

    BROADCAST_TARGET = 8192

    def __init__(self, rows: int, columns: int):
        self.columns = columns
        self.r_sum = fold_factor(rows, columns)
        self.r = max(fold_factor(rows, columns, self.BROADCAST_TARGET), self.r_sum)

    def view(self, a: np.ndarray) -> np.ndarray:
        """The wide view of a ``(m, C)`` array (a copy only if ``a`` is not contiguous)."""
        return a.reshape(-1, self.r * self.columns)

    def tile(self, v: np.ndarray) -> np.ndarray:
        """A per-column ``(C,)`` vector repeated to broadcast against :meth:`view`."""
        return v[np.newaxis].repeat(self.r, axis=0).reshape(-1) if self.r > 1 else v

    def sums(self, a: np.ndarray) -> np.ndarray:
        """Per-column sums ``(C,)`` of a C-order ``(m, C)`` matrix or any view of its data."""
        partial = column_sums(a.reshape(-1, self.r_sum * self.columns))
        return partial.reshape(self.r_sum, self.columns).sum(axis=0) if self.r_sum > 1 else partial


def channel_sums(a: np.ndarray) -> np.ndarray:
    """``sum_i a[i, c]`` of a ``(m, C)`` matrix in :class:`Folded`'s grouping."""
    return Folded(a.shape[0], a.shape[1]).sums(a)


# -- BatchNormalization ----------------------------------------------------------------------
def channel_matrix(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` as a C-contiguous ``(m, C)`` matrix with the channel axis ``axis`` (a positive
    index) last. Always C order: a BLAS sum of a strided matrix (a moved axis of a one-sample
    batch is a view) groups the additions differently, and so would every product of it."""
    if axis == x.ndim - 1:
        return np.ascontiguousarray(x.reshape(-1, x.shape[-1]))
    return np.ascontiguousarray(np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis]))


def from_channel_matrix(y2: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Inverse of :func:`channel_matrix` (``y2`` may be any view of the ``(m, C)`` C-order data)."""
    if axis == len(shape) - 1:
        return y2.reshape(shape)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
    return np.ascontiguousarray(np.moveaxis(y2.reshape(moved), -1, axis))


def batch_norm_coefficients(mean: np.ndarray, var: np.ndarray, gamma: np.ndarray,
                            beta: np.ndarray, epsilon: float
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rstd = 1/sqrt(var + eps)``, ``inv = rstd*gamma``, ``shift = beta - mean*inv``: the
    output is ``y = x*inv + shift`` (Keras's float order)."""
    dtype = mean.dtype.type
    rstd = dtype(1.0) / np.sqrt(var + dtype(epsilon))
    inv = rstd * gamma
    return rstd, inv, beta - mean * inv


def moving_average(moving: np.ndarray, value: np.ndarray, momentum: float) -> np.ndarray:
    """``moving*momentum + value*(1 - momentum)`` in ``moving``'s dtype (Keras's update)."""
    dtype = moving.dtype.type
    return moving * dtype(momentum) + value * dtype(1.0 - momentum)


# -- Dropout ---------------------------------------------------------------------------------
def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """``u < 1 - rate`` for float32 uniforms ``u`` of ``shape`` (one draw from ``rng``; the
    dtype of the uniforms does not change the Bernoulli law)."""
    return rng.random(shape, dtype=np.float32) < (1.0 - rate)


def select(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``where(mask, values, 0)`` (Keras's select), in place on ``values``; multiplying by the
    mask is much faster and identical unless ``values`` holds inf/NaN."""
    if all_finite(values):
        values *= mask
        return values
    return np.where(mask, values, np.zeros((), values.dtype))


def dropout_apply(values: np.ndarray, mask: np.ndarray, rate: float,
                  out: np.ndarray | None = None) -> np.ndarray:
    """``select(mask, values / (1 - rate), 0)`` (Keras divides by keep_prob, not ``* 1/keep``);
    forward (values = x) and backward (values = dL/dy) alike. Into ``out`` if given."""
    scaled = np.divide(values, values.dtype.type(1.0 - rate), out=out)
    return select(mask, scaled)


# -- max-pooling -----------------------------------------------------------------------------
def pool_offsets(pool_size: tuple[int, int], strides: tuple[int, int], rows: Axis, cols: Axis
                 ) -> Iterator[tuple[slice, ...]]:
    """For each window offset ``(a, b)`` in row-major order, the index of the strided view of
    a padded ``(N, Hp, Wp, C)`` input holding that offset of every window."""
    (ph, pw), (sh, sw) = pool_size, strides
    row_end, col_end = sh * (rows.out - 1) + 1, sw * (cols.out - 1) + 1
    for a in range(ph):
        for b in range(pw):
            yield (slice(None), slice(a, a + row_end, sh), slice(b, b + col_end, sw), slice(None))


def running_max(parts: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Element-wise maximum of equally shaped arrays, left to right, into ``out``."""
    if out is None:
        out = np.empty(parts[0].shape, parts[0].dtype)
    if len(parts) == 1:
        np.copyto(out, parts[0])
        return out
    np.maximum(parts[0], parts[1], out=out)
    for part in parts[2:]:
        np.maximum(out, part, out=out)
    return out


def pools_tile(pool_size: tuple[int, int], strides: tuple[int, int], rows: Axis, cols: Axis,
               padded_shape: tuple[int, ...]) -> bool:
    """Windows tile the padded input exactly: every element lies in exactly one window."""
    return (tuple(strides) == tuple(pool_size) and strides[0] * rows.out == padded_shape[1]
            and strides[1] * cols.out == padded_shape[2])


def window_max(xp: np.ndarray, pool_size: tuple[int, int], strides: tuple[int, int],
               rows: Axis, cols: Axis, out: np.ndarray | None = None) -> np.ndarray:
    """Window maxima ``(N, Ho, Wo, C)`` of a padded ``xp (N, Hp, Wp, C)`` (any batch slice):
    :class:`WindowMax` made and called once."""
    return WindowMax(xp, pool_size, strides, rows, cols, out)()


class WindowMax:
    """The window maxima of what a padded ``xp (N, Hp, Wp, C)`` holds at each call, into
    ``out (N, Ho, Wo, C)``; the strided views are made once (the fast tier's chunks write the
    same array again for every chunk).

    Exactly tiled and contiguous: first over the window rows (each operand a contiguous run of
    ``Wo*pw*C`` values, NumPy's fast loop), then over the window columns of the ``ph`` times
    smaller result; otherwise a running maximum over the offsets in row-major order. The two
    groupings give the same maxima (only the sign of a zero tie could differ), so the choice
    is made here, once, for both tiers."""

    def __init__(self, xp: np.ndarray, pool_size: tuple[int, int], strides: tuple[int, int],
                 rows: Axis, cols: Axis, out: np.ndarray | None = None) -> None:
        if out is None:
            out = np.empty((xp.shape[0], rows.out, cols.out, xp.shape[3]), xp.dtype)
        self.out = out
        if pools_tile(pool_size, strides, rows, cols, xp.shape) and xp.flags.c_contiguous:
            ph, pw = pool_size
            x6 = xp.reshape(xp.shape[0], rows.out, ph, cols.out, pw, xp.shape[3])
            by_rows = np.empty(x6[:, :, 0].shape, xp.dtype)  # (N, Ho, Wo, pw, C)
            #: (operands, their running maximum's array), in order
            self.stages = [([x6[:, :, a] for a in range(ph)], by_rows),
                           ([by_rows[:, :, :, b] for b in range(pw)], out)]
        else:
            self.stages = [([xp[index] for index in pool_offsets(pool_size, strides, rows, cols)], out)]

    def __call__(self) -> np.ndarray:
        for parts, into in self.stages:
            running_max(parts, out=into)
        return self.out


def first_max_masks(xp: np.ndarray, best: np.ndarray, offsets: Sequence[tuple[slice, ...]]
                    ) -> list[np.ndarray]:
    """One bool array per window offset (row-major), shaped like ``best``: True where that
    offset holds the window's maximum and no earlier offset does (ties go to the first)."""
    masks, taken = [], None
    for index in offsets:
        hit = xp[index] == best
        if taken is None:
            taken = hit.copy()
        else:
            hit &= ~taken
            taken |= hit
        masks.append(hit)
    return masks


def route_to_first_max(masks: Sequence[np.ndarray], g: np.ndarray, dxp: np.ndarray,
                       offsets: Sequence[tuple[slice, ...]], overlapping: bool) -> None:
    """Add each window's gradient ``g`` into ``dxp`` at its first maximum (any batch slice of
    ``g``, ``dxp`` and the masks). Without overlap every element of ``dxp`` is written once."""
    for index, hit in zip(offsets, masks):
        if overlapping:
            dxp[index] += g * hit
        else:
            np.multiply(g, hit, out=dxp[index])
