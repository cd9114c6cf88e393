"""Per-layer fast kernels: the reference layers' training step, rewritten for speed only.

A kernel drives one reference layer (:mod:`gdsim.nn.layers`): it reads the layer's
hyper-parameters and current weights, calls the same :mod:`gdsim.nn.ops` functions, and
writes back only what the reference writes (BatchNormalization's moving statistics; Dropout
advances the layer's generator once per mask). What it adds, none of which changes a bit:

- buffer reuse: arrays returned in the previous step are dead once it is over, so they are
  written again instead of asking for fresh memory (which page-faults on every step);
- in place: an activation over an input the layer before no longer needs (ReLU over a linear
  convolution's output), dL/dx into the gradient handed down (a temporary);
- the background thread (:mod:`gdsim.nn.fast.background`): weight gradients, dropout masks
  drawn ahead (the generator is rewound if no forward takes them), max-pool first-maximum
  masks and the backward scatter in two batch halves, the next batch's im2col;
- skipping dL/dx of the first layer (nobody needs it; for Conv2D the whole col2im).

Inference (``predict``, ``evaluate`` and ``fit``'s validation pass) runs :meth:`Kernel.infer`:
the reference layers' inference forward with the same reuse, in place over every intermediate
output (nothing reads it again) and none of the training-only work (no caches for backward, no
pooling masks, no dropout draws). Layers that compute each sample on its own in inference
also make a :meth:`Kernel.chunk_step`: the same forward over a chunk of a few samples, its
arrays (and the views of its input array, :func:`_views_kept`) made once, its constants (the
tiled bias, BatchNormalization's coefficients) refreshed from the weights once per inference
pass (:mod:`gdsim.nn.fast.chunked_inference`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from gdsim.nn import ops
from gdsim.nn.fast import background
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             Layer, MaxPooling2D)


class ChunkStep(NamedTuple):
    """A layer's inference forward over chunks of one shape (:meth:`Kernel.chunk_step`)."""

    #: a chunk's output from its input
    run: Callable[[np.ndarray], np.ndarray]
    #: whether the output is a temporary the next step may overwrite
    temporary: bool
    #: refreshes the step's constants from the layer's weights (at an inference pass's first
    #: batch), or None
    refresh: Callable[[], None] | None = None


def _overwritable(array: Any, allowed: bool, dtype: np.dtype) -> np.ndarray | None:
    """``array`` when ``allowed`` and it is a writeable array of ``dtype``, else ``None``."""
    if allowed and isinstance(array, np.ndarray) and array.dtype == dtype and array.flags.writeable:
        return array
    return None


def _views_kept(prepare: Callable[[np.ndarray], tuple[Callable[[], np.ndarray], bool]],
                keep: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A chunk step's ``run`` that makes its views of an input array once per input array.

    Every chunk step but a plan's first gets the same array at every call (the output array of
    the step before), so the reshapes and strided views it works through need not be made for
    every chunk (1-4 us of NumPy calls each, up to a tenth of a batch's time on the seed CNN).
    ``prepare(x)`` returns ``(work, reusable)``: ``work()`` computes the step over what ``x``
    holds when it is called; ``reusable`` says the views are views of ``x`` (no copies), so
    ``work`` stays right for that array whatever it holds later. ``keep``: the input is a
    temporary of the step before (``scratch``); a caller's chunk, a new view at every call, is
    never kept (it would keep the caller's whole batch alive)."""
    kept_input, kept_work = None, None

    def run(x: np.ndarray) -> np.ndarray:
        nonlocal kept_input, kept_work
        if x is kept_input:
            return kept_work()
        work, reusable = prepare(x)
        if keep and reusable:
            kept_input, kept_work = x, work
        return work()
    return run


class Kernel:
    """The generic kernel: the layer's own forward/backward (Flatten, and any other layer).

    ``forward(x, scratch_input)``: a training forward; ``scratch_input`` says ``x`` is a
    temporary the kernel may overwrite. ``backward(g, input_grad, scratch_grad)``: dL/dx, or
    ``None`` when ``input_grad`` is False; ``scratch_grad`` says ``g`` may be overwritten.
    :meth:`take_grads` returns the weight gradients (waiting for the background if needed).
    """

    def __init__(self, layer: Layer, use_background: bool) -> None:
        self.layer = layer
        self.use_background = use_background
        #: True when this kernel's input is one part of a batch split across lanes
        #: (:mod:`gdsim.nn.fast.lanes`): its own input is then never split again
        self.one_part = False
        self._grads: list[np.ndarray] = []
        self._pending = None
        self._arrays: dict[str, np.ndarray] = {}

    @property
    def keeps_output(self) -> bool:
        """Whether backward reads the forward's output again (the next kernel may overwrite it
        only when this is False)."""
        return True

    def forward(self, x: np.ndarray, scratch_input: bool) -> np.ndarray:
        return self.layer.forward(x, training=True)

    #: whether :meth:`infer` returns a temporary the next kernel may overwrite (a layer of
    #: unknown code might return an array it keeps)
    infers_temporary = False

    def infer(self, x: np.ndarray, scratch_input: bool, batch_statistics: bool) -> np.ndarray:
        """The layer's inference forward (``training=False``); ``scratch_input`` as in
        :meth:`forward`. The result may be an array this kernel writes again next call."""
        return self.layer.forward(x, training=False)

    def chunk_step(self, shape: tuple[int, ...], scratch: bool, batch_statistics: bool
                   ) -> ChunkStep | None:
        """The layer's inference forward over chunks of ``shape`` (a few samples of a batch, of
        the layer's dtype; ``scratch``: a chunk is a temporary the step may overwrite), its
        arrays made now; ``None`` when the layer does not compute each sample on its own
        (Flatten does; a layer of unknown code might not)."""
        if type(self.layer) is not Flatten:
            return None
        return ChunkStep(lambda x: self.layer.forward(x, training=False), scratch)

    def backward(self, g: np.ndarray, input_grad: bool, scratch_grad: bool) -> np.ndarray | None:
        dx = self.layer.backward(g)
        self._grads = self.layer.grads
        return dx

    def take_grads(self) -> list[np.ndarray]:
        if self._pending is not None:  # (dropped only once its result is in: an interrupt keeps it)
            self._grads = self._pending.result()
            self._pending = None
        return self._grads

    def set_grads(self, compute: Callable[..., list[np.ndarray]], input_grad: bool, *args: Any) -> None:
        """``grads = compute(*args)``: on the background thread when it may overlap with the
        caller's dL/dx (``args`` must then stay unmodified until :meth:`take_grads`)."""
        if self.use_background and input_grad:
            self._grads, self._pending = [], background.submit(compute, *args)
        else:
            self._grads, self._pending = compute(*args), None

    def parts(self, shape: tuple[int, ...]) -> tuple[slice, ...]:
        """The batch parts a layer computes apart (:func:`gdsim.nn.ops.batch_parts`); the whole
        input when it is already one lane's part."""
        return (slice(0, shape[0]),) if self.one_part else ops.batch_parts(shape)

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A kernel-owned array kept under ``name`` from step to step (new if the shape changes)."""
        kept = self._arrays.get(name)
        if kept is None or kept.shape != tuple(shape) or kept.dtype != dtype:
            kept = self._arrays[name] = np.empty(shape, dtype)
        return kept

    # hooks around a step (no-ops unless a kernel has use for them)
    def prefetch(self, batch_size: int) -> None:
        """Start work for the coming training forward of ``batch_size`` samples early."""

    def discard_prefetch(self) -> None:
        """Undo a :meth:`prefetch` no forward consumed (the step failed before this layer)."""

    def prepare_input(self, x: np.ndarray) -> None:
        """Prepare for a coming ``forward(x)`` of this very array (on the background thread)."""


class DenseKernel(Kernel):
    infers_temporary = True

    def infer(self, x, scratch_input, batch_statistics):
        y = self.forward(x, scratch_input)  # the same in both modes
        self._x = self._y = None  # backward's caches: the input may be the caller's batch
        return y

    @property
    def keeps_output(self) -> bool:
        return self.layer.activation.reads_output

    def forward(self, x, scratch_input):
        layer = self.layer
        x = layer.check_input(x)
        y = x @ layer.kernel
        if layer.use_bias:
            y += layer.bias
        y = layer.activation.forward(y, out=y)
        self._x, self._y = x, y
        return y

    def backward(self, g, input_grad, scratch_grad):
        layer = self.layer
        g = layer.activation.backward(self._y, g)
        if layer.trainable:
            self.set_grads(layer.weight_grads, input_grad, self._x, g)
        else:
            self._grads = []
        return g @ layer.kernel.T if input_grad else None


class ActivationKernel(Kernel):
    infers_temporary = True

    def forward(self, x, scratch_input):
        layer = self.layer
        out = _overwritable(x, scratch_input, layer.dtype)
        self._y = layer.activation.forward(layer.check_input(x), out=out)
        return self._y

    def infer(self, x, scratch_input, batch_statistics):
        layer = self.layer
        return layer.activation.forward(layer.check_input(x),
                                        out=_overwritable(x, scratch_input, layer.dtype))

    def chunk_step(self, shape, scratch, batch_statistics):
        # every activation is element-wise or over a sample's last axis; read at each call, as
        # the layer does (a callback may swap it)
        layer = self.layer
        if scratch:
            return ChunkStep(lambda x: layer.activation.forward(x, out=x), True)
        # (linear returns its input itself: the caller's chunk is no temporary)
        return ChunkStep(lambda x: layer.activation.forward(x), False)

    def backward(self, g, input_grad, scratch_grad):
        out = _overwritable(g, scratch_grad, self.layer.dtype)
        if out is not None and out.shape != self._y.shape:
            out = None
        return self.layer.activation.backward(self._y, g, out=out)


def _state_and_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float
                    ) -> tuple[dict, np.ndarray]:
    """The generator's state, then its next mask: read on the background thread, in the order
    the draws run (two Dropout layers may share a generator; the second draw begins where the
    first ended)."""
    return rng.bit_generator.state, ops.dropout_mask(rng, shape, rate)


class DropoutKernel(Kernel):
    """Masks drawn ahead on the background thread: the same draw the forward would make (the
    generator advances once per mask either way); a mask no forward takes (another batch size,
    or a step that failed first) is undone by rewinding the generator, so no draw is ever
    skipped or repeated."""

    def __init__(self, layer: Dropout, use_background: bool) -> None:
        super().__init__(layer, use_background)
        self._prefetched: tuple | None = None  # (mask shape, Future of (state before, mask))
        self._mask: np.ndarray | None = None

    def prefetch(self, batch_size):
        layer = self.layer
        if (self._prefetched is not None or not self.use_background or layer.generator is None
                or not 0.0 < layer.rate < 1.0):
            return
        shape = layer.mask_shape((batch_size,) + layer.build_input_shape)
        self._prefetched = (shape, background.submit(_state_and_mask, layer.generator, shape, layer.rate))

    def discard_prefetch(self):
        """Rewind the generator to where this draw began (for layers sharing one generator,
        undo the draws last to first: each began where the one before it ended)."""
        if self._prefetched is not None:
            _, future = self._prefetched
            before, _ = future.result()  # let the draw finish before rewinding the generator past it
            self.layer.generator.bit_generator.state = before
            self._prefetched = None

    #: the mask of this lane's part of the batch, drawn for the whole batch by
    #: :mod:`gdsim.nn.fast.lanes` (taken by the next training forward)
    lane_mask: np.ndarray | None = None

    def draw_mask(self, shape):
        """The layer's next mask of ``shape`` (a prefetched one if it fits)."""
        if self._prefetched is not None and self._prefetched[0] == shape:
            mask = self._prefetched[1].result()[1]
            self._prefetched = None
            return mask
        self.discard_prefetch()
        return ops.dropout_mask(self.layer.generator, shape, self.layer.rate)

    def _take_mask(self, shape):
        if self.lane_mask is not None:
            mask, self.lane_mask = self.lane_mask, None
            return mask
        return self.draw_mask(shape)

    def forward(self, x, scratch_input):
        layer = self.layer
        x = layer.check_input(x)
        self._mask = None
        if not layer.draws(True):
            if layer.rate == 1.0:
                self._mask = np.zeros(x.shape, dtype=bool)
                return np.zeros_like(x)
            return x
        self._mask = self._take_mask(layer.mask_shape(x.shape))
        return ops.dropout_apply(x, self._mask, layer.rate)

    def infer(self, x, scratch_input, batch_statistics):
        return self.layer.check_input(x)  # inference: y = x

    def chunk_step(self, shape, scratch, batch_statistics):
        return ChunkStep(lambda x: x, scratch)

    def backward(self, g, input_grad, scratch_grad):
        layer = self.layer
        if self._mask is None:
            return g
        if layer.rate == 1.0:
            return np.zeros_like(g)
        return ops.dropout_apply(g, self._mask, layer.rate,
                                 out=_overwritable(g, scratch_grad, layer.dtype))


class _PatchMatrix:
    """:func:`gdsim.nn.ops.conv_patches` for chunks of one shape, into arrays made once: the
    padded input, ``P^T``, and the strided view between them
    (:func:`~gdsim.nn.ops.im2col_windows`); each call writes the chunk into the padded array's
    interior and copies the view, as :func:`~gdsim.nn.ops.im2col_t` does."""

    def __init__(self, shape: tuple[int, ...], dtype: Any, geo: ops.ConvGeometry) -> None:
        (kh, kw), (sh, sw) = geo.kernel_size, geo.strides
        self.geo = geo
        self.padded, self.patches = ops.conv_patches(np.zeros(shape, dtype), geo)
        self.windows = ops.im2col_windows(self.padded, kh, kw, sh, sw, geo.rows.out, geo.cols.out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``P^T`` of ``x`` (of the shape and dtype given; an array written again next call)."""
        if ops.pad_channel_major(x, self.geo, self.padded) is not self.padded:
            raise ValueError(f"_PatchMatrix: a batch of {x.dtype}{x.shape} for arrays made for "
                             f"{self.padded.dtype} batches")
        np.copyto(self.patches.reshape(self.windows.shape), self.windows)  # im2col_t's copy
        return self.patches


class Conv2DKernel(Kernel):
    """im2col into arrays kept from step to step; the next batch's patch matrices built ahead.

    Three slots of (padded input, patch matrix) per batch part: 0 for forward's own im2col, 1
    and 2 in turn for batches staged ahead (:meth:`prepare_input`): the batch in flight keeps
    its patch matrices (its backward needs them) while the next one's are built."""

    infers_temporary = True

    def __init__(self, layer: Conv2D, use_background: bool) -> None:
        super().__init__(layer, use_background)
        self._slots: list[dict[int, list[np.ndarray | None]]] = [{} for _ in range(3)]
        self._next_stage = 0
        # id(x) -> (x, its patch matrices, slot): written on the background thread while forward
        # takes its own batch's entry, so each batch has its own key
        self._staged: dict[int, tuple[np.ndarray, list[np.ndarray], int]] = {}

    @property
    def keeps_output(self) -> bool:
        return self.layer.activation.reads_output

    def _im2col(self, x: np.ndarray, parts: tuple[slice, ...], slot: int) -> list[np.ndarray]:
        kept, patches = self._slots[slot], []
        for index, part in enumerate(parts):
            pad, cols = kept.get(index, (None, None))
            kept[index] = ops.conv_patches(x[part], self.layer.geometry, pad, cols)
            patches.append(kept[index][1])
        return patches

    def prepare_input(self, x):
        layer = self.layer
        if layer.geometry.pointwise or x.shape[1:] != layer.build_input_shape or x.dtype != layer.dtype:
            return
        slot = 1 + self._next_stage
        self._next_stage ^= 1
        for key, (_, _, used) in list(self._staged.items()):
            if used == slot:  # a batch staged two calls ago and never taken: its slot goes now
                self._staged.pop(key, None)
        self._staged[id(x)] = (x, self._im2col(x, self.parts(x.shape), slot), slot)

    def forward(self, x, scratch_input):
        layer = self.layer
        x = layer.check_input(x)
        geo = layer.geometry
        parts = self.parts(x.shape)
        if geo.pointwise:
            patches = [ops.conv_pointwise_patches(x[part], geo) for part in parts]
        else:
            staged = self._staged.pop(id(x), None)
            patches = (staged[1] if staged is not None and staged[0] is x
                       else self._im2col(x, parts, 0))
        per_sample = geo.rows.out * geo.cols.out
        z = self.array("z", (x.shape[0] * per_sample, layer.filters),
                       np.result_type(layer.kernel.dtype, layer.dtype))
        for part, p in zip(parts, patches):
            ops.conv_gemm(p, layer.kernel, geo, out=z[ops.part_rows(part, per_sample)])
        if layer.use_bias:
            fold = ops.Folded(z.shape[0], layer.filters)  # long inner loop for the broadcast add
            wide = fold.view(z)
            wide += fold.tile(layer.bias)
        z = layer.activation.forward(z, out=z)
        self._patches, self._z, self._parts = patches, z, parts
        return ops.from_nhwc(z.reshape(x.shape[0], geo.rows.out, geo.cols.out, layer.filters),
                             layer.data_format)

    def infer(self, x, scratch_input, batch_statistics):
        y = self.forward(x, scratch_input)  # a convolution computes the same in both modes
        # backward's caches let go: a pointwise convolution's patches view the caller's batch
        self._patches, self._z, self._parts = [], None, ()
        return y

    def chunk_step(self, shape, scratch, batch_statistics):
        """One GEMM for the chunk, as :meth:`forward` computes a batch part (the chunks are cut
        where the GEMM's rows may be cut with the same bits), then the bias and activation."""
        layer, geo = self.layer, self.layer.geometry
        gemm = self.chunk_gemm_step(shape, scratch)
        maps = self.chunk_maps_step((shape[0], geo.rows.out, geo.cols.out, layer.filters))

        def step(x: np.ndarray) -> np.ndarray:
            return ops.from_nhwc(maps.run(gemm.run(x)), layer.data_format)  # (channels first: a copy)
        return ChunkStep(step, True, maps.refresh)

    def chunk_gemm_step(self, shape: tuple[int, ...], scratch: bool) -> ChunkStep:
        """The chunk's ``z = P @ K`` alone, channels last ``(n, Ho, Wo, F)``: no bias, no
        activation (``scratch`` as in :meth:`chunk_step`)."""
        layer, geo = self.layer, self.layer.geometry
        n = shape[0]
        z = np.empty((n * geo.rows.out * geo.cols.out, layer.filters), layer.dtype)
        z4 = z.reshape(n, geo.rows.out, geo.cols.out, layer.filters)
        if geo.pointwise:
            def prepare(x: np.ndarray) -> tuple[Callable[[], np.ndarray], bool]:
                patches = ops.conv_pointwise_patches(x, geo)  # x reshaped, or a strided copy

                def work() -> np.ndarray:
                    ops.conv_gemm(patches, layer.kernel, geo, out=z)
                    return z4
                return work, np.may_share_memory(patches, x)
            return ChunkStep(_views_kept(prepare, scratch), True)

        patch_matrix = _PatchMatrix(tuple(shape), layer.dtype, geo)

        def step(x: np.ndarray) -> np.ndarray:
            ops.conv_gemm(patch_matrix(x), layer.kernel, geo, out=z)
            return z4
        return ChunkStep(step, True)

    def chunk_maps_step(self, shape: tuple[int, ...]) -> ChunkStep:
        """``activation(z + bias)`` in place over a contiguous channels-last ``z`` of ``shape``
        (a chunk's GEMM output, or its max-pooled values: :mod:`gdsim.nn.fast.pool_first`)."""
        layer = self.layer
        fold = tiled = refresh = None
        if layer.use_bias:
            fold = ops.Folded(int(np.prod(shape[:-1])), layer.filters)  # long inner loop for the add
            rows_of_bias = np.empty((fold.r, layer.filters), layer.dtype)
            tiled = rows_of_bias.reshape(-1)

            def refresh() -> None:
                rows_of_bias[...] = layer.bias

        def prepare(z: np.ndarray) -> tuple[Callable[[], np.ndarray], bool]:
            z2 = z.reshape(-1, layer.filters)
            wide = fold.view(z2) if fold is not None else None

            def work() -> np.ndarray:
                if wide is not None:
                    np.add(wide, tiled, out=wide)
                layer.activation.forward(z2, out=z2)  # read at each call, as the layer does
                return z
            return work, np.may_share_memory(z2, z)
        return ChunkStep(_views_kept(prepare, True), True, refresh)  # z: this layer's own array

    def backward(self, g, input_grad, scratch_grad):
        layer = self.layer
        geo = layer.geometry
        g = ops.to_nhwc(np.asarray(g), layer.data_format).reshape(-1, layer.filters)
        g = layer.activation.backward(self._z, g)
        per_sample = geo.rows.out * geo.cols.out
        g_parts = [g[ops.part_rows(part, per_sample)] for part in self._parts]
        if layer.trainable:
            self.set_grads(layer.weight_grads, input_grad, self._patches, g_parts)
        else:
            self._grads = []
        if not input_grad:
            return None
        n = self._parts[-1].stop
        dx = self.array("dx", (n,) + tuple(layer.build_input_shape), g.dtype)
        for gp, part in zip(g_parts, self._parts):  # each part straight into its rows of dx
            ops.conv_input_grad(gp, layer.kernel, geo, part.stop - part.start, out=dx[part])
        return dx


class MaxPooling2DKernel(Kernel):
    """First-maximum masks worked out on the background thread while the later layers run; the
    backward scatter (bound by memory latency, not arithmetic) in two batch halves at once."""

    infers_temporary = True

    def forward(self, x, scratch_input):
        layer = self.layer
        x = layer.check_input(x)
        rows, cols = layer.geometry
        xp = ops.pad_nhwc(ops.to_nhwc(x, layer.data_format), rows, cols, -np.inf)
        best = ops.window_max(xp, layer.pool_size, layer.strides, rows, cols)
        self._xp, self._best = xp, best
        self._masks = (background.submit(ops.first_max_masks, xp, best, layer.offsets)
                       if self.use_background else None)
        return ops.from_nhwc(best, layer.data_format)

    def infer(self, x, scratch_input, batch_statistics):
        layer = self.layer
        rows, cols = layer.geometry
        xp = ops.pad_nhwc(ops.to_nhwc(layer.check_input(x), layer.data_format), rows, cols, -np.inf)
        best = self.array("best", (xp.shape[0], rows.out, cols.out, xp.shape[3]), xp.dtype)
        best = ops.window_max(xp, layer.pool_size, layer.strides, rows, cols, out=best)
        return ops.from_nhwc(best, layer.data_format)

    def chunk_step(self, shape, scratch, batch_statistics):
        layer = self.layer
        (rows, cols), fmt = layer.geometry, layer.data_format
        channels = shape[1] if fmt == "channels_first" else shape[-1]
        best = np.empty((shape[0], rows.out, cols.out, channels), layer.dtype)

        def prepare(x: np.ndarray) -> tuple[Callable[[], np.ndarray], bool]:
            xp = ops.pad_nhwc(ops.to_nhwc(x, fmt), rows, cols, -np.inf)  # x itself when unpadded
            maxima = ops.WindowMax(xp, layer.pool_size, layer.strides, rows, cols, out=best)
            return (lambda: ops.from_nhwc(maxima(), fmt)), np.may_share_memory(xp, x)
        return ChunkStep(_views_kept(prepare, scratch), True)

    def backward(self, g, input_grad, scratch_grad):
        layer = self.layer
        (rows, cols), (h, w) = layer.geometry, layer.image_size
        (ph, pw), (sh, sw) = layer.pool_size, layer.strides
        g = ops.to_nhwc(np.asarray(g), layer.data_format)
        xp, offsets = self._xp, layer.offsets
        # every input element lies in exactly one window when tiled: no zero-fill needed
        tiled = ops.pools_tile(layer.pool_size, layer.strides, rows, cols, xp.shape)
        dxp = (np.empty if tiled else np.zeros)(xp.shape, dtype=g.dtype)
        pending, self._masks = self._masks, None
        masks = pending.result() if pending is not None else ops.first_max_masks(xp, self._best, offsets)
        overlapping = sh < ph or sw < pw

        def scatter(batch: slice) -> None:
            ops.route_to_first_max([mask[batch] for mask in masks], g[batch], dxp[batch],
                                   offsets, overlapping)

        half = len(g) // 2
        if self.use_background and half:  # samples are independent: same bits
            other = background.submit(scatter, slice(half, len(g)))
            scatter(slice(0, half))
            other.result()
        else:
            scatter(slice(0, len(g)))
        return ops.from_nhwc(ops.crop_nhwc(dxp, rows, cols, h, w), layer.data_format)


class BatchNormalizationKernel(Kernel):
    """The reference's float order on a wide view of the ``(m, C)`` matrix (long inner loops),
    ``x - mu`` kept from forward for backward, outputs written into arrays kept across steps.

    ``exchange`` (set by :mod:`gdsim.nn.fast.lanes` when this kernel's input is one lane's part
    of the batch): a function taking this part's channel sums ``(k, C)`` and returning every
    part's, in batch order, so that each lane adds them up in the reference's order; its
    ``batch`` is the number of samples in the whole batch."""

    infers_temporary = True
    exchange: Callable[[np.ndarray], list[np.ndarray]] | None = None

    def _batch_sums(self, a2: np.ndarray, parts: tuple[slice, ...], *more: np.ndarray) -> np.ndarray:
        """:func:`gdsim.nn.ops.batch_channel_sums` of the C-order ``(m, C)`` matrix ``a2`` (and
        of each of ``more``, stacked as rows of the result when given)."""
        per_sample = a2.shape[0] // parts[-1].stop
        matrices = (a2,) + more
        sums = [np.stack([ops.channel_sums(a[ops.part_rows(p, per_sample)]) for a in matrices])
                for p in parts]
        if self.exchange is not None:
            sums = self.exchange(sums[0])
        total = ops.add_in_order(sums)
        return total if more else total[0]

    def forward(self, x, scratch_input):
        return self._normalize(x, self.layer.uses_batch_statistics(True), True, None)

    def infer(self, x, scratch_input, batch_statistics):
        layer = self.layer
        x = layer.check_input(x)
        # in place over a temporary (the wide view of a contiguous channels-last batch is x)
        out = _overwritable(x, scratch_input and layer.channel_axis == x.ndim - 1
                            and x.flags.c_contiguous, layer.dtype)
        return self._normalize(x, layer.uses_batch_statistics(False, batch_statistics), False,
                               None if out is None else out.reshape(-1))

    def chunk_step(self, shape, scratch, batch_statistics):
        """``y = x*inv + shift`` with the moving statistics, as :meth:`_normalize` computes it."""
        layer = self.layer
        if layer.uses_batch_statistics(False, batch_statistics):
            return None
        axis = layer.channel_axis
        channels = shape[axis]
        fold = ops.Folded(int(np.prod(shape)) // channels, channels)
        tiles = np.empty((2, fold.r, channels), layer.dtype)
        inv, shift = tiles.reshape(2, -1)

        def refresh() -> None:
            tiles[0], tiles[1] = ops.batch_norm_coefficients(
                layer.moving_mean, layer.moving_variance, layer.effective_gamma(),
                layer.effective_beta(), layer.epsilon)[1:]

        if axis == len(shape) - 1:  # channels last: the (m, C) matrix is the chunk itself
            out = np.empty(shape, layer.dtype)

            def prepare(x: np.ndarray) -> tuple[Callable[[], np.ndarray], bool]:
                y = x if scratch and x.flags.c_contiguous else out
                xw, yw = fold.view(x.reshape(-1, channels)), fold.view(y.reshape(-1, channels))

                def work() -> np.ndarray:
                    np.multiply(xw, inv, out=yw)
                    np.add(yw, shift, out=yw)
                    return y
                return work, x.flags.c_contiguous  # (else xw is a copy of what x holds now)
            step = _views_kept(prepare, scratch)
        else:
            def step(x: np.ndarray) -> np.ndarray:
                x2 = ops.channel_matrix(x, axis)  # a copy unless the moved axis is a no-op
                xw = fold.view(x2 if scratch or not np.may_share_memory(x2, x) else x2.copy())
                xw *= inv
                xw += shift
                return ops.from_channel_matrix(xw, x.shape, axis)
        return ChunkStep(step, True, refresh)

    def _normalize(self, x, batch_stats, training, out):
        """``y = x*inv + shift`` with the batch's or the moving statistics (updated only in
        training); into ``out`` (the flat data of ``x``) when given."""
        layer = self.layer
        x = layer.check_input(x)
        axis = layer.channel_axis
        x2 = ops.channel_matrix(x, axis)
        rows, channels = x2.shape
        parts = self.parts(x.shape)
        # m counts the values per channel of the whole batch, this lane's part or not
        m = rows if self.exchange is None else self.exchange.batch * (rows // x.shape[0])
        fold = ops.Folded(rows, channels)
        xw = fold.view(x2)
        dtype = layer.dtype.type
        centered = None
        if batch_stats:
            mean = self._batch_sums(x2, parts) / dtype(m)
            centered = np.subtract(xw, fold.tile(mean), out=self.array("centered", xw.shape, xw.dtype))
            square = np.multiply(centered, centered, out=self.array("square", xw.shape, xw.dtype))
            var = self._batch_sums(square.reshape(rows, channels), parts) / dtype(m)
            if training:
                layer.moving_mean = ops.moving_average(layer.moving_mean, mean, layer.momentum)
                layer.moving_variance = ops.moving_average(layer.moving_variance, var, layer.momentum)
        else:
            mean, var = layer.moving_mean, layer.moving_variance
        rstd, inv, shift = ops.batch_norm_coefficients(mean, var, layer.effective_gamma(), layer.effective_beta(),
                                                       layer.epsilon)
        if out is not None:
            output = out.reshape(xw.shape)
        else:
            output = self.array("output", xw.shape, xw.dtype) if batch_stats or not training else None
        yw = np.multiply(xw, fold.tile(inv), out=output)
        yw += fold.tile(shift)
        if training:
            self._cache = (xw, fold, parts, m, mean, rstd, batch_stats, centered)
        return ops.from_channel_matrix(yw, x.shape, axis)

    def backward(self, g, input_grad, scratch_grad):
        layer = self.layer
        xw, fold, parts, m, mean, rstd, batch_stats, centered = self._cache
        g2 = ops.channel_matrix(np.asarray(g), layer.channel_axis)
        gw = fold.view(g2)
        dtype = layer.dtype.type
        gamma = layer.effective_gamma()
        if centered is not None:
            # the forward's ``x - mu`` is consumed here (turned into xhat in place, then dx)
            self._cache = (xw, fold, parts, m, mean, rstd, batch_stats, None)
            xhat = centered
        else:
            xhat = xw - fold.tile(mean)
        xhat *= fold.tile(rstd)
        product = np.multiply(gw, xhat, out=self.array("square", xhat.shape, xhat.dtype))
        dbeta, dgamma = self._batch_sums(g2, parts, product.reshape(g2.shape))
        if layer.trainable:
            self._grads = ([dgamma] if layer.scale else []) + ([dbeta] if layer.center else [])
        else:
            self._grads = []
        if not input_grad:
            return None
        if batch_stats:
            m = dtype(m)
            dx = np.multiply(xhat, fold.tile(dgamma / m), out=xhat)  # xhat is ours and done with
            np.subtract(gw, dx, out=dx)
            dx -= fold.tile(dbeta / m)
            dx *= fold.tile(gamma * rstd)
        else:
            dx = gw * fold.tile(gamma * rstd)
        return ops.from_channel_matrix(dx, np.shape(g), layer.channel_axis)


_KERNELS = {Dense: DenseKernel, Activation: ActivationKernel, Dropout: DropoutKernel,
            Conv2D: Conv2DKernel, MaxPooling2D: MaxPooling2DKernel,
            BatchNormalization: BatchNormalizationKernel}


def kernel_for(layer: Layer, use_background: bool) -> Kernel:
    """The fast kernel of a layer; a subclass (which may override forward/backward) and any
    layer type without one get the generic :class:`Kernel`, which calls the layer itself."""
    for cls in type(layer).__mro__:
        if cls in _KERNELS:
            # ReLU is an Activation that adds nothing; any other subclass keeps its own code
            if cls is type(layer) or (cls is Activation and type(layer).forward is Activation.forward
                                      and type(layer).backward is Activation.backward):
                return _KERNELS[cls](layer, use_background)
            break
    return Kernel(layer, use_background)
