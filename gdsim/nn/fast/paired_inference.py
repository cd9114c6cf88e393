"""Inference in pairs of batches: this process computes one batch while the lane worker computes
the next (same bits).

Why not the two lanes of a training step (:mod:`gdsim.nn.fast.lanes`): there the layers after
the lane prefix run here alone while the worker waits, and every batch pays two hand-overs. In
inference the batches do not depend on each other, so the worker can take whole batches
through the whole network: batch ``2k`` runs here and batch ``2k + 1`` in the worker, at the
same time, each from the first layer to the last.

Same bits: each batch is computed by the same kernels as when it runs here alone
(:meth:`gdsim.nn.fast.engine.FastEngine.infer` on one core), on a batch of the same size, so
where a batch runs decides nothing. The worker holds a pickled copy of the model's layers and
reads the current weights from shared memory before every batch.

Failure: an error on either side stops the worker (its state is unknown) and re-raises; the
next pass starts a fresh one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from gdsim.nn.fast import lanes
from gdsim.nn.layers import Layer


#: how many batches the worker is handed ahead of the one this process waits for
AHEAD = 2


class PairedInference:
    """A model's inference batches, every second one computed by the lane worker."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        self.shared: lanes.SharedArrays | None = None
        self.batch = 0

    def _ready(self, n: int) -> Any:
        """The worker, holding this model and shared arrays for batches of up to ``n``."""
        worker = lanes.get_worker()
        if not worker.holds("inference", self, self.layers) or n > self.batch:
            if self.shared is not None:
                self.shared.close()
            self.batch = max(n, self.batch)
            first, last = self.layers[0], self.layers[-1]
            out_shape = last.compute_output_shape(tuple(last.build_input_shape))
            self.shared = lanes.SharedArrays(
                [(f"x{b}", (self.batch,) + tuple(first.build_input_shape), first.dtype.str)
                 for b in range(AHEAD + 1)]
                + lanes.weight_spec(self.layers)
                + [(f"prediction{b}", (self.batch,) + tuple(out_shape), last.dtype.str)
                   for b in range(AHEAD + 1)])
            worker.hold("inference", self, self.layers, self.shared)
        return worker

    def batches(self, x: np.ndarray, batch_size: int, batch_statistics: bool,
                infer_here: Callable[[np.ndarray, bool], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, prediction)`` of each batch ``x[start:start + batch_size]`` in order;
        ``infer_here(batch, first)`` computes a batch in this process (``first``: the pass's
        first batch here; the weights do not change during the pass). A prediction is valid
        until the next one is taken.

        Batches ``0, 2, 4, ...`` run here, ``1, 3, 5, ...`` in the worker, which is kept
        :data:`AHEAD` batches ahead (each in a shared buffer of its own, one more for the
        batch being handed out): it never waits for this process to hand batches out. The
        worker serves this pass alone until it ends (:data:`lanes.turn`)."""
        starts = range(0, len(x), batch_size)
        theirs = starts[1::2]
        in_flight: list[tuple[int, int]] = []  # (start, buffer) of the worker's batches, in order
        with lanes.turn:
            try:
                worker = self._ready(batch_size)
                lanes.publish_weights(self.layers, self.shared)  # fixed during the pass

                def send(k: int) -> None:
                    """Hand the worker its ``k``-th batch."""
                    buffer, batch = k % (AHEAD + 1), x[theirs[k]:theirs[k] + batch_size]
                    np.copyto(self.shared[f"x{buffer}"][:len(batch)], batch)
                    worker.conn.send(("infer", buffer, len(batch), batch_statistics, k == 0))
                    in_flight.append((theirs[k], buffer))

                for k in range(min(AHEAD, len(theirs))):
                    send(k)
                for k, start in enumerate(starts[::2]):
                    mine = infer_here(x[start:start + batch_size], k == 0)
                    done = None
                    if in_flight:
                        lanes.receive(worker.conn, ("inferred",))
                        done = in_flight.pop(0)
                        if k + AHEAD < len(theirs):
                            send(k + AHEAD)
                    yield start, mine
                    if done is not None:
                        start, buffer = done
                        yield start, self.shared[f"prediction{buffer}"][:min(batch_size, len(x) - start)]
            except GeneratorExit:  # the caller stopped early: the worker's answers are waited for
                try:
                    for _ in in_flight:
                        lanes.receive(worker.conn, ("inferred",))
                except BaseException:
                    self.fail()
                    raise
                raise
            except lanes.CannotHold:  # before any batch, and the worker is fine: it stays
                self._let_go()
                raise
            except BaseException as error:
                self.fail()
                if isinstance(error, BrokenPipeError):
                    raise lanes.LaneError(lanes.ENDED) from None
                raise

    def fail(self) -> None:
        """After a failed pass: the worker is stopped (its state is unknown), the shared arrays
        let go."""
        lanes.stop_worker(kill=True)
        self._let_go()

    def _let_go(self) -> None:
        """The shared arrays dropped (made anew by the next pass)."""
        self.batch = 0
        if self.shared is not None:
            self.shared.close()
            self.shared = None
