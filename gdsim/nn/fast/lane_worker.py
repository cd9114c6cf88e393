"""The second lane's process (:mod:`gdsim.nn.fast.lanes`): the second half of each batch.

Started by :mod:`gdsim.nn.fast.lanes` as ``python -m gdsim.nn.fast.lane_worker FD`` with one
end of a socket pair as ``FD``; it inherits the environment, so NumPy and OpenBLAS load with
the same numerics profile as the process that started it. Messages (pickled tuples):

- ``("init", role, layers, spec, marks)`` + a shared-memory file descriptor: a pickled copy of
  the layers of ``role`` -- ``"prefix"``, the lane prefix, or ``"inference"``, a whole model
  (:mod:`gdsim.nn.fast.paired_inference`) -- and its shared arrays (``marks``: how the
  prefix's swaps go, :class:`gdsim.nn.fast.lanes.Exchange`); answers ``("ready",)``,
  or ``("cannot hold", why)`` when the layers do not unpickle here;
- ``("forward", n, training, batch_statistics, buffer)``: the prefix forward over the second
  half of a batch of ``n`` from the shared ``x``, its output into the shared ``out``; answers
  ``("forwarded",)``. BatchNormalization's swaps in the middle of it go through marks in
  shared memory, or ``("sums", ...)`` messages; the dropout masks are in the shared
  ``mask{i}``, or ``premask{i}[buffer]`` when they were drawn here ahead;
- ``("draw", n, buffer, states)``: the next step's dropout masks for a batch of ``n``, drawn
  from the generator ``states`` into ``premask{i}[buffer]``
  (:func:`gdsim.nn.fast.lanes.draw_masks_ahead`); answers ``("drawn", states after)``;
- ``("backward",)``: the backward pass from the shared ``gout``, the weight gradients into
  the shared ``g*`` arrays; answers ``("backwarded",)``;
- ``("infer", buffer, n, batch_statistics, first)``: the whole model's inference forward over
  the batch of ``n`` in the inference role's shared ``x{buffer}``, into ``prediction{buffer}``
  (``first``: the pass's first batch; the weights stay fixed until its end); answers
  ``("inferred",)``;
- ``("stop",)``, or the other end closing: exit.

An error answers ``("error", message)``; the other process then stops this one.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from gdsim import _overflow
from gdsim.nn import blas
from gdsim.nn.fast import lanes
from gdsim.nn.fast.chunked_inference import ChunkedInference
from gdsim.nn.fast.kernels import kernel_for


class _Lane:
    """This process's copy of a lane prefix: its layers read their weights from shared memory."""

    def __init__(self, conn: Connection, layers: list, shared: lanes.SharedArrays,
                 marks: bool) -> None:
        self.conn, self.layers, self.shared = conn, layers, shared
        self.kernels = lanes.lane_kernels(layers, conn, shared, 1, marks)

    def forward(self, n: int, training: bool, batch_statistics: bool, buffer: int | None) -> None:
        half = (n + 1) // 2
        lanes.install_weights(self.layers, self.shared)
        if training:  # this half's masks: drawn there now, or here ahead into premask[buffer]
            for i, layer in lanes.drawing_dropouts(self.layers):
                whole = layer.mask_shape((n,) + tuple(layer.build_input_shape))[0] == n
                if buffer is None:
                    mask = self.shared[f"mask{i}"][:n - half if whole else 1]
                else:
                    ahead = self.shared[f"premask{i}"][buffer]
                    mask = ahead[half:n] if whole else ahead[:1]
                self.kernels[i].lane_mask = mask
        lanes.reset_exchanges(self.kernels, n)
        y = lanes.run_forward(self.kernels, self.shared["x"][:n - half], training, batch_statistics)
        self.shared["out"][half:n] = y
        self.n = n

    def backward(self) -> None:
        half = (self.n + 1) // 2
        lanes.run_backward(self.kernels, self.shared["gout"][half:self.n].copy())
        for i, (layer, kernel) in enumerate(zip(self.layers, self.kernels)):
            if layer.trainable and layer.trainable_weights and not lanes.whole_batch_grads(kernel):
                for name, grad in zip(layer.weight_names, kernel.take_grads()):
                    np.copyto(self.shared[f"g{i}.{name}"], grad)


class _Inference:
    """This process's copy of a whole model, for inference batches of its own."""

    def __init__(self, conn: Connection, layers: list, shared: lanes.SharedArrays,
                 marks: bool) -> None:  # no swaps in inference: marks does not matter
        self.layers, self.shared = layers, shared
        self.chunked = ChunkedInference([kernel_for(layer, False) for layer in layers])

    def infer(self, buffer: int, n: int, batch_statistics: bool, first: bool) -> None:
        """``first``: the first batch of a pass (the weights are then fixed until its end)."""
        lanes.install_weights(self.layers, self.shared)
        y = self.chunked.forward(self.shared[f"x{buffer}"][:n], batch_statistics, first)
        out = self.shared[f"prediction{buffer}"][:n]
        if y.shape != out.shape or y.dtype != out.dtype:
            raise ValueError(f"the model's output is {y.dtype}{y.shape[1:]}, its shared array "
                             f"{out.dtype}{out.shape[1:]}")
        np.copyto(out, y)


_ROLES = {"prefix": _Lane, "inference": _Inference}


def serve(sock: socket.socket) -> None:
    conn = Connection(os.dup(sock.fileno()))
    held: dict[str, Any] = {}  # role -> its _Lane or _Inference
    with _overflow.overflow_is_data(), blas.blas_threads(1):
        while True:
            try:
                message = lanes.next_message(conn)
            except lanes.LaneError:  # the other end closed
                return
            try:
                if message[0] == "stop":
                    return
                if message[0] == "init":
                    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
                    _, role, blob, spec, marks = message
                    if role in held:
                        held.pop(role).shared.close()
                    shared = lanes.SharedArrays(spec, fds[0])
                    try:
                        layers = pickle.loads(blob)
                    except Exception as error:  # a class or function this process cannot import
                        shared.close()
                        conn.send(("cannot hold", f"the layers do not unpickle in the lane "
                                                  f"worker: {type(error).__name__}: {error}"))
                        continue
                    held[role] = _ROLES[role](conn, layers, shared, marks)
                    conn.send(("ready",))
                elif message[0] == "forward":
                    held["prefix"].forward(*message[1:])
                    conn.send(("forwarded",))
                elif message[0] == "draw":
                    conn.send(("drawn", lanes.draw_masks_ahead(held["prefix"].layers,
                                                               held["prefix"].shared, *message[1:])))
                elif message[0] == "backward":
                    held["prefix"].backward()
                    conn.send(("backwarded",))
                elif message[0] == "infer":
                    held["inference"].infer(*message[1:])
                    conn.send(("inferred",))
                else:
                    raise ValueError(f"unknown message {message[0]!r}")
            except lanes.LaneError:  # the other process ended: so does this one
                return
            except Exception:
                try:
                    conn.send(("error", traceback.format_exc(limit=8)))
                except OSError:
                    return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
