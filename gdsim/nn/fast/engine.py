"""The fast engine: the training step of :mod:`gdsim.nn.training`, same bits, less time.

``Sequential.fit(engine="fast")`` (the default) runs :meth:`FastEngine.train_step` instead of
:func:`gdsim.nn.training.train_step`. Per step it

- drives each layer through its fast kernel (:mod:`gdsim.nn.fast.kernels`): in place where a
  temporary allows it, arrays reused from the last step, work handed to the background
  thread (:mod:`gdsim.nn.fast.background`), no dL/dx for the first layer;
- starts the dropout masks on the background thread before the forward pass;
- gathers the next batch and builds its im2col on the background thread during this step;
- updates every weight with one optimizer call on a flat vector when that gives the same bits
  (:mod:`gdsim.nn.fast.flat_update`);
- on a machine with two or more cores, runs the leading image layers in two lanes, the
  second half of each batch in a worker process (:mod:`gdsim.nn.fast.lanes`); in inference
  that worker takes every second batch whole (:mod:`gdsim.nn.fast.paired_inference`).

The kernels keep arrays of each layer's dtype, so they compute a model whose weights are of
their layers' dtypes (as ``set_weights`` casts them); a call that finds a weight assigned
directly in another dtype runs the reference instead (it computes that layer in the weight's
dtype). A step that fails leaves nothing behind: its background work is waited for and unused dropout
draws are undone, so a checkpoint resumes bit for bit. The training data must not be changed
in place during ``fit``: the next batch is read ahead.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Iterator, Sequence

import numpy as np

from gdsim.nn import training
from gdsim.nn.fast import background, flat_update, lanes, paired_inference
from gdsim.nn.fast.chunked_inference import ChunkedInference
from gdsim.nn.fast.kernels import Kernel, kernel_for


class FastEngine:
    """Training steps for one model (kernels and kept arrays live as long as the engine)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.use_background = bool(model.background)
        self.layers = list(model.layers)
        self.kernels: list[Kernel] = [kernel_for(layer, self.use_background) for layer in self.layers]
        self.flat = flat_update.FlatUpdate()
        self._coming: Future | None = None
        self.prefix = lanes.lane_prefix(self.layers) if self.use_background else 0
        self.lanes = lanes.Lanes(self.layers[:self.prefix]) if self.prefix else None
        #: None until the first paired pass; False once the worker could not hold the model
        self.paired: paired_inference.PairedInference | None | bool = None
        self.chunked = ChunkedInference(self.kernels)

    def _in_lanes(self, shape: tuple[int, ...]) -> bool:
        return self.lanes is not None and self.lanes.serves(shape)

    def serves(self, model: Any) -> bool:
        """Whether this engine was made for ``model`` as it is now (same layers, same options)."""
        return (model is self.model and bool(model.background) == self.use_background
                and len(model.layers) == len(self.layers)
                and all(a is b for a, b in zip(model.layers, self.layers)))

    def _weights_of_layer_dtypes(self) -> bool:
        """Whether every weight is of its layer's dtype (else the reference computes the call)."""
        return all(getattr(getattr(layer, name), "dtype", None) == layer.dtype
                   for layer in self.layers for name in layer.weight_names)

    # -- batches ---------------------------------------------------------------------------
    def batch(self, x: np.ndarray, y: np.ndarray, batches: Sequence[Any], step: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``step`` (staged during the last step), and the next one staged now."""
        if step == 0 or self._coming is None:
            self._coming = self._stage(x, batches[step])
        xb = self._coming.result()
        self._coming = self._stage(x, batches[step + 1]) if step + 1 < len(batches) else None
        return xb, y[batches[step]]

    def _stage(self, x: np.ndarray, index: Any) -> Future:
        """The batch ``x[index]``, gathered and prepared by the first kernel (a convolution builds
        its patch matrix): on the background thread while the current step runs."""
        def gather_and_prepare() -> np.ndarray:
            xb = x[index]
            if not self._in_lanes(xb.shape):  # the lanes build their own halves' patches
                self.kernels[0].prepare_input(xb)
            return xb

        if self.use_background:
            return background.submit(gather_and_prepare)
        done: Future = Future()
        done.set_result(x[index])
        return done

    # -- inference --------------------------------------------------------------------------
    def infer(self, x: np.ndarray, batch_statistics: bool = False, weights_changed: bool = True
              ) -> np.ndarray:
        """:func:`gdsim.nn.training.forward` in inference mode, bit for bit. Every intermediate
        output is a temporary the next kernel may overwrite (never ``x`` itself); the result
        may be an array a kernel writes again on the next call. ``weights_changed=False``: the
        weights have not changed since the last call with ``True`` (the next batch of an
        inference pass; :meth:`ChunkedInference.forward`)."""
        if weights_changed:  # whichever path computes this batch: a later one may be chunked
            self.chunked.mark_stale()
        if not self._weights_of_layer_dtypes():
            return training.forward(self.layers, x, training=False, batch_statistics=batch_statistics)
        if self._in_lanes(x.shape):
            try:
                prefix_output = self.lanes.forward(x, False, batch_statistics)
                return lanes.run_forward(self.kernels[self.prefix:], prefix_output, False, batch_statistics)
            except lanes.CannotHold:  # raised before any work: the prefix runs here from now on
                self.lanes = None
        return self.chunked.forward(x, batch_statistics, weights_changed=False)

    def infer_batches(self, x: np.ndarray, batch_size: int, batch_statistics: bool = False
                      ) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, infer(x[start:start + batch_size]))`` for every batch, in order; with the
        lanes, every second batch computed by the worker at the same time
        (:mod:`gdsim.nn.fast.paired_inference`). Each prediction is valid until the next.
        The weights stay as they are from the first batch to the last (nothing runs between
        the batches of ``predict`` and ``evaluate`` that could change them)."""
        if (self._in_lanes((batch_size,) + x.shape[1:]) and len(x) > batch_size and self.paired is not False
                and self._weights_of_layer_dtypes()):
            if self.paired is None:
                self.paired = paired_inference.PairedInference(self.layers)
            try:
                yield from self.paired.batches(
                    x, batch_size, batch_statistics,
                    lambda batch, first: self.chunked.forward(batch, batch_statistics, first))
                return
            except lanes.CannotHold:  # raised before any batch: all of them here, from now on
                self.paired = False
        for start in range(0, len(x), batch_size):
            yield start, self.infer(x[start:start + batch_size], batch_statistics, start == 0)

    # -- one step --------------------------------------------------------------------------
    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`gdsim.nn.training.train_step`, bit for bit."""
        if not self._weights_of_layer_dtypes():
            return training.train_step(self.model, x, y)
        if self._in_lanes(x.shape):
            try:
                return self._lanes_step(x, y)
            except lanes.CannotHold:  # raised before any work: the prefix runs here from now on
                self.lanes = None
        model = self.model
        kernels = self.kernels
        try:
            if self.use_background:
                for kernel in kernels:
                    kernel.prefetch(x.shape[0])
            # the input of a kernel is the previous one's output, a temporary it may overwrite
            # unless that kernel reads its output again in backward
            scratch = [False] + [not kernel.keeps_output for kernel in kernels[:-1]]
            prediction = x
            for kernel, overwritable in zip(kernels, scratch):
                prediction = kernel.forward(prediction, overwritable)
            loss, grad = model.loss.value_and_grad(y, prediction)
            for index in range(len(kernels) - 1, -1, -1):
                # every gradient handed down is a fresh array of the kernel above; nothing
                # upstream of the first layer needs dL/dx
                grad = kernels[index].backward(grad, index > 0, True)
        except BaseException:
            background.drain()
            self._coming = None
            raise
        finally:
            for kernel in reversed(kernels):  # last draw first (layers may share a generator)
                kernel.discard_prefetch()
        trainable = [(layer, kernel) for layer, kernel in zip(self.layers, kernels)
                     if layer.trainable and layer.trainable_weights]
        self._update([layer for layer, _ in trainable],
                     [g for _, kernel in trainable for g in kernel.take_grads()])
        return loss, prediction

    def _lanes_step(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same step with the lane prefix in two lanes and the rest here."""
        model = self.model
        rest = self.kernels[self.prefix:]
        holding_turn = False  # between the lanes' forward and backward (lanes.Lanes.abandon)
        try:
            prediction = self.lanes.forward(x, True)
            holding_turn = True
            # the shared prefix output is not overwritten (nor returned as the prediction)
            scratch = [False] + [not kernel.keeps_output for kernel in rest[:-1]]
            for kernel, overwritable in zip(rest, scratch):
                prediction = kernel.forward(prediction, overwritable)
            self.lanes.draw_ahead(x.shape[0])  # every mask of this step is drawn by now
            if not rest:
                prediction = prediction.copy()
            loss, grad = model.loss.value_and_grad(y, prediction)
            for kernel in reversed(rest):
                grad = kernel.backward(grad, True, True)
            holding_turn = False  # the backward gives it up, however it ends
            prefix_grads = self.lanes.backward(grad)
        except BaseException:
            if holding_turn:
                self.lanes.abandon()
            background.drain()
            self._coming = None
            raise
        prefix_layers = [layer for layer in self.layers[:self.prefix]
                         if layer.trainable and layer.trainable_weights]
        rest_trainable = [(layer, kernel) for layer, kernel in zip(self.layers[self.prefix:], rest)
                          if layer.trainable and layer.trainable_weights]
        self._update(prefix_layers + [layer for layer, _ in rest_trainable],
                     [g for grads in prefix_grads for g in grads]
                     + [g for _, kernel in rest_trainable for g in kernel.take_grads()])
        return loss, prediction

    def _update(self, trainable: list, grads: list[np.ndarray]) -> None:
        """One optimizer step of the trainable layers' weights from their gradients."""
        model = self.model
        params = [w for layer in trainable for w in layer.trainable_weights]
        if flat_update.flattenable(model.optimizer, params, model.optimizer_state):
            params, model.optimizer_state = self.flat.step(model.optimizer, params, grads,
                                                           model.optimizer_state)
        else:
            params, model.optimizer_state = model.optimizer.step(params, grads, model.optimizer_state)
        training.install(trainable, params)
