"""Inference of the leading image layers a few samples at a time (same bits, less memory traffic).

Layer by layer, an inference batch of 32 RGB images 32x32 pushes a 2 MiB array through every
element-wise pass (bias, ReLU, BatchNormalization's ``x*inv`` and ``+ shift``, pooling), each
one a trip to the last-level cache. In inference every sample is computed on its own, so the
batch can go through the leading layers in chunks of a few samples instead, each chunk from the
first layer to the last of that run while it stays in the core's own cache; only the (16 times
smaller) output of the run is gathered for the rest of the network.

Same bits: every element-wise step gives the same value in any chunking. A convolution's GEMM
is the one place where it could differ: the reference computes each batch part
(:func:`gdsim.nn.ops.batch_parts`) in one GEMM, and OpenBLAS computes the last rows of a GEMM
(those past its kernel's last full block of rows, e.g. 24 for the Haswell kernels) with
another code path that rounds differently. So a part is cut only where its rows may be cut
with the same bits: into chunks whose rows fill whole blocks, the last chunk ending where the
part ends. Which chunk sizes do is measured, not assumed: :func:`gemm_cuts_exactly` computes
each convolution's GEMM of a whole part and of the same part in the chunks, on random
values, with the layer's shapes, and a chunk size is used only if they agree bit for bit
(once per batch shape, with one BLAS thread as every model computes; a BLAS that no chunking
matches is left to compute layer by layer).

One exception, NaN payloads: where a NaN meets another NaN (possible only with non-finite
weights, e.g. an infinite BatchNormalization coefficient; ``predict`` refuses non-finite
inputs), the result carries one of the two payloads, and which one NumPy's loops pick can
depend on the broadcast's width, which follows the chunk's size: every value, and the bits of
every number that is not NaN, still agree (found by an adversarial review, session 13).

Where the run stops: at the first layer that is not computed sample by sample (Dense's GEMM
has one row per sample), or BatchNormalization with the batch's own statistics.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

import numpy as np

from gdsim.nn import blas, ops
from gdsim.nn.fast import lanes, pool_first
from gdsim.nn.fast.kernels import ChunkStep, Conv2DKernel, Kernel

#: GEMM rows of a chunk at the first convolution: its arrays (patches, output) stay within a
#: core's 512 KiB-1 MiB cache (measured on the seed CNN: chunks of 6-9 samples of 32x32
#: fastest, 3 and 12 slower)
TARGET_ROWS = 6144

#: block heights of the BLAS kernels' rows tried, most likely first (OpenBLAS single precision:
#: 24 for Haswell/Zen, 16 or 32 for AVX-512)
ROW_BLOCKS = (24, 16, 32, 48, 64, 96, 8)


def chunk_bounds(parts: Sequence[slice], chunk: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of every chunk of ``chunk`` samples, each part cut on its own (the
    last chunk of a part is the rest of it)."""
    return [(start, min(start + chunk, part.stop))
            for part in parts for start in range(part.start, part.stop, chunk)]


@lru_cache(maxsize=256)
def gemm_cuts_exactly(geo: ops.ConvGeometry, kernel_shape: tuple[int, ...], dtype: str,
                      kernel_dtype: str, part_rows: tuple[int, ...], chunk_rows: int) -> bool:
    """Whether :func:`gdsim.nn.ops.conv_gemm` of a part of each of ``part_rows`` rows gives the
    same bits in one GEMM as in chunks of ``chunk_rows`` rows (the last one the rest), each
    chunk's patch matrix an array of its own as :meth:`Conv2DKernel.chunk_step` builds it.
    Measured on random values in ``[-1, 1)`` (a GEMM's code path depends on its shapes, not
    on the values)."""
    with blas.blas_threads(1):  # as every model computes (a GEMM's split depends on the count)
        return _measure_cuts(geo, kernel_shape, dtype, kernel_dtype, part_rows, chunk_rows)


def _measure_cuts(geo, kernel_shape, dtype, kernel_dtype, part_rows, chunk_rows) -> bool:
    rng = np.random.default_rng(2026)
    kernel = rng.uniform(-1, 1, kernel_shape).astype(kernel_dtype)
    depth = int(np.prod(kernel_shape[:-1]))
    for rows in part_rows:
        if geo.pointwise:  # P (rows, C): a chunk is a slice of rows
            patches = rng.uniform(-1, 1, (rows, depth)).astype(dtype)
            chunks = [patches[a:a + chunk_rows] for a in range(0, rows, chunk_rows)]
        else:  # P^T (kh*kw*C, rows): a chunk's own P^T holds its columns
            patches = rng.uniform(-1, 1, (depth, rows)).astype(dtype)
            chunks = [np.ascontiguousarray(patches[:, a:a + chunk_rows]) for a in range(0, rows, chunk_rows)]
        whole = ops.conv_gemm(patches, kernel, geo)
        if not np.array_equal(whole, np.concatenate([ops.conv_gemm(c, kernel, geo) for c in chunks])):
            return False
    return True


def _matrix_product(kernel: Conv2DKernel, per_sample: int, parts: Sequence[slice], chunk: int) -> bool:
    """Whether every GEMM of a convolution, whole part or chunk, multiplies two matrices (no
    side of 1): NumPy hands a matrix-vector product to BLAS's gemv, whose sums may be grouped
    by the operands' addresses, which no measurement of the shapes can vouch for."""
    depth, filters = int(np.prod(kernel.layer.kernel.shape[:-1])), kernel.layer.filters
    smallest = min(min(chunk, p.stop - p.start - (p.stop - p.start - 1) // chunk * chunk) for p in parts)
    return depth > 1 and filters > 1 and smallest * per_sample > 1


class _Plan(NamedTuple):
    """How a batch of one shape is computed: ``length`` leading kernels in chunks of ``chunk``
    samples (``steps``: their chunk steps for each chunk size), then the rest whole."""

    length: int
    chunk: int
    bounds: list[tuple[int, int]]
    steps: dict[int, list[ChunkStep]]
    #: the run's output for the whole batch (the rest of the network may overwrite it)
    output: np.ndarray


#: plans kept per model (one per batch shape met; a full and a last partial batch is the usual)
KEPT_PLANS = 4


class ChunkedInference:
    """The inference forward of a sequence of fast kernels, its leading run in chunks."""

    def __init__(self, kernels: Sequence[Kernel]) -> None:
        self.kernels = list(kernels)
        self._plans: dict[tuple, _Plan | None] = {}  # (shape, dtype, batch_statistics) -> plan
        #: keys of the plans whose constants were refreshed since the weights last changed
        self._fresh: set[tuple] = set()

    def plan(self, shape: tuple[int, ...], dtype: np.dtype, batch_statistics: bool) -> _Plan | None:
        """The plan of a batch of ``shape``; ``None``: layer by layer."""
        return self._plans[self._ensure_plan(shape, dtype, batch_statistics)]

    def _ensure_plan(self, shape: tuple[int, ...], dtype: np.dtype, batch_statistics: bool) -> tuple:
        """The plan of a batch made if it is new (the oldest let go past :data:`KEPT_PLANS`);
        returns its key in :attr:`_plans`."""
        key = (tuple(shape), np.dtype(dtype).str, bool(batch_statistics))
        if key not in self._plans:
            if len(self._plans) >= KEPT_PLANS:
                oldest = next(iter(self._plans))
                del self._plans[oldest]
                self._fresh.discard(oldest)
            self._plans[key] = self._make_plan(tuple(shape), np.dtype(dtype), bool(batch_statistics))
        return key

    def _run(self, shape: tuple[int, ...], dtype: np.dtype, batch_statistics: bool) -> int:
        """How many leading kernels compute each sample on its own, of ``dtype`` throughout."""
        length, sample = 0, shape[1:]
        for kernel in self.kernels:
            layer = kernel.layer
            if (layer.dtype != dtype or tuple(layer.build_input_shape) != sample
                    or kernel.chunk_step((1,) + sample, False, batch_statistics) is None):
                break
            length, sample = length + 1, tuple(layer.compute_output_shape(sample))
        return length

    def _make_plan(self, shape: tuple[int, ...], dtype: np.dtype, batch_statistics: bool) -> _Plan | None:
        if len(shape) < 3 or shape[0] < 2:
            return None
        length = self._run(shape, dtype, batch_statistics)
        convs = [k for k in self.kernels[:length] if isinstance(k, Conv2DKernel)]
        if not convs:
            return None
        parts = ops.batch_parts(shape)
        longest = max(p.stop - p.start for p in parts)
        per_sample = [k.layer.geometry.rows.out * k.layer.geometry.cols.out for k in convs]
        for block in ROW_BLOCKS:
            # the fewest samples whose rows fill whole blocks at every convolution
            unit = next((c for c in range(1, block + 1) if all(c * r % block == 0 for r in per_sample)), 0)
            if not unit:
                continue
            chunk = unit * max(1, round(TARGET_ROWS / (unit * per_sample[0])))
            if chunk >= longest:
                continue  # one chunk per part: nothing to gain
            if not all(_matrix_product(k, r, parts, chunk) for k, r in zip(convs, per_sample)):
                continue
            if all(self._cuts_exactly(k, r, parts, chunk) for k, r in zip(convs, per_sample)):
                return self._build(shape, dtype, batch_statistics, length, chunk, parts)
        return None

    @staticmethod
    def _cuts_exactly(kernel: Conv2DKernel, per_sample: int, parts: Sequence[slice], chunk: int) -> bool:
        layer = kernel.layer
        part_rows = tuple(sorted({(p.stop - p.start) * per_sample for p in parts}))
        return gemm_cuts_exactly(layer.geometry, tuple(layer.kernel.shape), layer.dtype.str,
                                 layer.kernel.dtype.str, part_rows, chunk * per_sample)

    def _build(self, shape, dtype, batch_statistics, length, chunk, parts) -> _Plan:
        bounds = chunk_bounds(parts, chunk)
        steps: dict[int, list[ChunkStep]] = {}
        for size in sorted({stop - start for start, stop in bounds}):
            sample, scratch, steps[size] = shape[1:], False, []
            for kernel in self.kernels[:length]:
                step = kernel.chunk_step((size,) + sample, scratch, batch_statistics)
                steps[size].append(step)
                sample, scratch = tuple(kernel.layer.compute_output_shape(sample)), step.temporary
            steps[size] = pool_first.fuse(self.kernels[:length], (size,) + shape[1:], steps[size],
                                          batch_statistics)
        return _Plan(length, chunk, bounds, steps, np.empty((shape[0],) + sample, dtype))

    def mark_stale(self) -> None:
        """The weights may have changed: every plan's constants are refreshed at its next batch."""
        self._fresh.clear()

    @staticmethod
    def _refresh(plan: _Plan) -> None:
        """The constants of every step of ``plan`` from the weights."""
        for steps in plan.steps.values():
            for step in steps:
                if step.refresh is not None:
                    step.refresh()

    def forward(self, x: np.ndarray, batch_statistics: bool, weights_changed: bool = True) -> np.ndarray:
        """:func:`lanes.run_forward` in inference mode, bit for bit, for weights of their
        layers' dtypes (as :class:`~gdsim.nn.fast.engine.FastEngine` calls it). The result may
        be an array written again by the next call.

        ``weights_changed=False`` says the weights (and every setting a step reads) have not
        changed since the last call with ``weights_changed=True`` or :meth:`mark_stale`, as
        from one batch of an inference pass to the next (whatever computed the batches
        before): the plan's constants (tiled biases, BatchNormalization's coefficients, pooling
        first or not) are then refreshed only if this plan has not been since then (measured
        on the seed CNN: 146 us of a 2.9 ms batch of 32 saved)."""
        if weights_changed:  # before any return: a later batch of the pass may be chunked
            self.mark_stale()
        if not (isinstance(x, np.ndarray) and x.flags.c_contiguous):
            return lanes.run_forward(self.kernels, x, False, batch_statistics)
        key = self._ensure_plan(x.shape, x.dtype, batch_statistics)
        plan = self._plans[key]
        if plan is None:
            return lanes.run_forward(self.kernels, x, False, batch_statistics)
        if key not in self._fresh:
            self._refresh(plan)
            self._fresh.add(key)
        out = plan.output
        for start, stop in plan.bounds:
            y = x[start:stop]
            for step in plan.steps[stop - start]:
                y = step.run(y)
            out[start:stop] = y
        return lanes.run_forward(self.kernels[plan.length:], out, False, batch_statistics,
                                 scratch_input=True)
