"""Max-pooling first: a chunk's element-wise maps before a MaxPooling2D run on the pooled values.

In inference a convolution's GEMM output ``z`` passes, before its max-pooling, through maps
that act on each value alone, per channel: the bias add, ReLU, BatchNormalization's
``x*inv + shift`` with the moving statistics (Dropout passes it unchanged). Call their
composition ``f``. When ``f`` is non-decreasing, for every window of values ``z_i``

    max_i f(z_i) = f(max_i z_i),

so the maps can run after the pooling, on a quarter of the values for 2x2 windows, instead
of before it (in the seed CNN, measured on one core: its two blocks 15% and 10% faster per
chunk, ``predict`` 2-3%). In floating point each
map is non-decreasing: ``fl(x + b)`` and ``fl(x * inv)`` for ``inv > 0`` because rounding
to nearest is (IEEE 754's default, NumPy's only mode: no flush-to-zero), and ``max(x, 0)``.

The same bits, not only the same values, when the conditions below hold (checked whenever
the chunk steps' constants are refreshed -- at the first batch of an inference pass, the
weights fixed until its end -- from the weights and activations of that moment; when they do
not hold, the block runs in the layers' own order):

- every activation is linear or ReLU, every bias and BatchNormalization coefficient finite,
  every ``inv > 0``: then ``f`` is non-decreasing, and ``f(x)`` is NaN exactly where ``x``
  is NaN and passes that NaN through; max-pooling picks a NaN by its position in the window
  alone, the same position in both orders;
- ``f`` ends by adding a constant ``c`` (a bias, or BatchNormalization's ``shift``) that
  holds no -0: ``fl(x + c)`` is -0 only when both are -0, so ``f`` is never -0, and zero is
  the one value with two bit patterns (``f(+0)`` and ``f(-0)`` are then the same bits too);
- the constants checked are the ones the steps use: the layers' own weights, of the layers'
  dtype (a weight of another dtype sends the whole call to the reference,
  :class:`gdsim.nn.fast.engine.FastEngine`);
- pooling's padding (-inf) is never a window's only value, and ``f(-inf)`` is the least
  value of ``f``: padding wins a window in neither order unless it ties, with the same bits.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gdsim.nn import activations, ops
from gdsim.nn.fast.kernels import (ActivationKernel, BatchNormalizationKernel, ChunkStep,
                                   Conv2DKernel, DropoutKernel, Kernel, MaxPooling2DKernel)

#: activations that are non-decreasing and exact (``linear`` returns its input, ReLU a max)
_MONOTONE = (activations.get("linear").forward, activations.get("relu").forward)


def fuse(kernels: Sequence[Kernel], shape: tuple[int, ...], steps: list[ChunkStep],
         batch_statistics: bool) -> list[ChunkStep]:
    """``steps`` (one per kernel, for chunks of ``shape``) with each block ``Conv2D``, maps,
    ``MaxPooling2D`` that pools to fewer values made one step of :class:`PooledBlock`."""
    shapes = [tuple(shape)]
    for kernel in kernels:
        shapes.append((shape[0],) + tuple(kernel.layer.compute_output_shape(shapes[-1][1:])))
    fused, i = [], 0
    while i < len(kernels):
        end = _block_end(kernels, i)
        if end is not None and np.prod(shapes[end + 1]) < np.prod(shapes[end]):
            scratch = i > 0 and steps[i - 1].temporary  # the block's input: a temporary?
            fused.append(PooledBlock(kernels[i:end + 1], shapes[i], steps[i:end + 1],
                                     batch_statistics, scratch).step())
            i = end + 1
        else:
            fused.append(steps[i])
            i += 1
    return fused


def _channels_last(kernel: Kernel) -> bool:
    layer = kernel.layer
    if isinstance(kernel, BatchNormalizationKernel):
        return layer.channel_axis in (-1, len(layer.build_input_shape))
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def _block_end(kernels: Sequence[Kernel], start: int) -> int | None:
    """The index of the MaxPooling2D that ends a block starting at ``start``, or None."""
    if type(kernels[start]) is not Conv2DKernel or not _channels_last(kernels[start]):
        return None
    for end in range(start + 1, len(kernels)):
        kernel = kernels[end]
        if not _channels_last(kernel):
            return None
        if type(kernel) is MaxPooling2DKernel:
            return end
        if type(kernel) not in (ActivationKernel, BatchNormalizationKernel, DropoutKernel):
            return None
    return None


class PooledBlock:
    """Conv2D, maps, MaxPooling2D over chunks of one shape: the GEMM, the pooling, then the
    maps on the pooled values -- or, when a condition of the module's fails for this pass,
    the layers' own steps in their order. ``scratch``: the block's input is a temporary of
    the step before (:meth:`Conv2DKernel.chunk_step`)."""

    def __init__(self, kernels: Sequence[Kernel], shape: tuple[int, ...],
                 in_order: Sequence[ChunkStep], batch_statistics: bool, scratch: bool) -> None:
        conv, self.maps, pool = kernels[0], list(kernels[1:-1]), kernels[-1]
        geo = conv.layer.geometry
        z_shape = (shape[0], geo.rows.out, geo.cols.out, conv.layer.filters)
        pooled = (shape[0],) + tuple(pool.layer.compute_output_shape(z_shape[1:]))
        self.conv = conv
        self.in_order = list(in_order)
        self.gemm = conv.chunk_gemm_step(shape, scratch)
        self.pool = pool.chunk_step(z_shape, True, batch_statistics)
        self.after = [conv.chunk_maps_step(pooled)] + [
            kernel.chunk_step(pooled, True, batch_statistics) for kernel in self.maps]
        #: whether this pass runs pooling first (set by :meth:`refresh`)
        self.pooling_first = False

    def step(self) -> ChunkStep:
        return ChunkStep(self.run, True, self.refresh)

    def refresh(self) -> None:
        """Decide the pass's order, then refresh the constants of the steps that will run."""
        self.pooling_first = self._commutes()
        for step in self.after if self.pooling_first else self.in_order:
            if step.refresh is not None:
                step.refresh()

    def _commutes(self) -> bool:
        """The module's conditions, for the weights and activations of this moment."""
        layer = self.conv.layer
        last = None  # the constant the maps add last, None when a ReLU comes after it
        if layer.use_bias:
            if not np.isfinite(layer.bias).all():
                return False
            last = layer.bias
        if layer.activation.forward not in _MONOTONE:
            return False
        if layer.activation.forward is not _MONOTONE[0]:
            last = None
        for kernel in self.maps:
            layer = kernel.layer
            if isinstance(kernel, ActivationKernel):
                if layer.activation.forward not in _MONOTONE:
                    return False
                if layer.activation.forward is not _MONOTONE[0]:
                    last = None
            elif isinstance(kernel, BatchNormalizationKernel):
                _, inv, shift = ops.batch_norm_coefficients(
                    layer.moving_mean, layer.moving_variance, layer.effective_gamma(),
                    layer.effective_beta(), layer.epsilon)
                if not (np.isfinite(inv).all() and (inv > 0).all() and np.isfinite(shift).all()):
                    return False
                last = shift
        return last is not None and not (np.signbit(last) & (last == 0)).any()

    def run(self, x: np.ndarray) -> np.ndarray:
        if not self.pooling_first:
            for step in self.in_order:
                x = step.run(x)
            return x
        y = self.pool.run(self.gemm.run(x))
        for step in self.after:
            y = step.run(y)
        return y
