"""Two lanes: each half of an image batch on a core of its own, in two processes (same bits).

Why processes: a training step of the seed CNN is some 2,400 NumPy calls, and Python holds
the GIL between them, so two threads of one process gain little (measured: two models
training side by side in two threads, batch 16 each, 1.14x of one; in two processes, 1.89x).

What runs where. The model's leading image layers -- Conv2D, activations, BatchNormalization
over feature maps, MaxPooling2D, Dropout, Flatten: the *lane prefix* -- see each half of the
batch apart anyway (:func:`gdsim.nn.ops.batch_parts`): the reference computes the first half,
then the second, and adds their sums in that order. Here this process computes the first
half and a worker process (:mod:`gdsim.nn.fast.lane_worker`) the second, at the same time:

- forward: both lanes run the prefix on their half; at each BatchNormalization they swap
  their halves' channel sums (:class:`Exchange`) and both add them in batch order, as the
  reference does; Dropout masks are drawn for the whole batch, as the reference draws
  them, and each lane takes its half: drawn by the worker in the step before, while it
  waited (:meth:`Lanes.draw_ahead`), or here;
- the rest of the network runs here, on the joined batch: forward, loss, backward;
- backward: the gradient at the prefix's output is split again; both lanes run the prefix
  backward; the prefix's weight gradients are this lane's plus the worker's, in that order.

Same bits: every part is computed by the same kernels on equally laid out arrays, and every
sum adds the parts in batch order, exactly as the reference; a batch that does not qualify
(:meth:`Lanes.serves`) is computed here alone, also exactly as the reference. So one core
or two give the same bits. The worker runs the same Python with the same environment (the
numerics profile), BLAS at one thread, and NumPy's errstate of ``fit``.

Settings: the worker holds a pickled copy of the layers; their weights are published before
every pass, and their settings (a Dropout rate, a BatchNormalization epsilon, ``trainable``, an
activation) are compared with the copy's before every pass too
(:mod:`gdsim.nn.fast.layer_settings`): a setting changed since makes a new copy.

Failure: a step that fails on either side stops the worker (its state is unknown), restores
the dropout generators, and re-raises; the next step starts a fresh worker. Layers the worker
cannot have (:class:`CannotHold`: a custom layer or activation that does not pickle, or whose
module only this process can import) are found before any work, and the engine then runs
them here alone.
"""

from __future__ import annotations

import atexit
import mmap
import os
import pickle
import platform
import select
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Sequence

import numpy as np

from gdsim.nn import ops
from gdsim.nn.fast import layer_settings
from gdsim.nn.fast.kernels import (ActivationKernel, BatchNormalizationKernel, Conv2DKernel,
                                   DropoutKernel, Kernel, MaxPooling2DKernel, kernel_for)
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dropout, Flatten, Layer,
                             MaxPooling2D)

#: a batch runs in two lanes only when the prefix's first output holds at least this many
#: values (smaller batches gain less than the hand-over costs); a speed choice, never bits
MIN_VALUES = 1 << 16

#: how a lane waits for the other's sums (speed choices, never bits): it checks the other's
#: mark in shared memory SPIN times (about 0.3 us each), then YIELDS more times with a
#: ``sched_yield`` between checks (about 1.2 us each: a busy process beside it gets the core),
#: and only then sleeps in ``select`` on the socket, SLEEP seconds at a time, checking again.
#: Measured on the seed CNN (2 cores, steps alternating between the ways of waiting, one
#: process): against a message per swap (each wake of a blocked lane is a system call on both
#: sides, some 30 us to send on this VM), 4-6% faster idle and 2-3% beside a busy process;
#: a pure spin of 5,000 checks was 4% faster idle but 33% slower beside a busy process
SPIN = 500
YIELDS = 2000
SLEEP = 1e-4

#: how many times a process looks for the other's next message (about 3 us each, with a
#: ``sched_yield`` between) before it blocks on the socket (:func:`next_message`); a speed
#: choice, never bits
POLLS = 1000

#: whether stores become visible to the other core in program order (x86-64's TSO): then the
#: other's mark, seen, means its sums are there. Elsewhere each swap is a socket message, whose
#: system calls order the stores
ORDERED_STORES = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

_LANE_KERNELS = (Conv2DKernel, ActivationKernel, BatchNormalizationKernel, MaxPooling2DKernel,
                 DropoutKernel)


def lane_prefix(layers: Sequence[Layer]) -> int:
    """How many leading layers can run in two lanes: image layers (inputs of rank > 2) of the
    exact types the fast tier has lane kernels for, up to and including a Flatten; none when
    the model's layers are not all of one dtype (the shared arrays that carry a batch and its
    gradients between the lanes hold one dtype: a model of mixed dtypes runs on one core)."""
    if len({layer.dtype for layer in layers}) > 1:
        return 0
    count = 0
    for layer in layers:
        if len(layer.build_input_shape) < 2:
            break
        if isinstance(layer, Flatten) and type(layer) is Flatten:
            count += 1
            break
        kernel = kernel_for(layer, False)
        if type(kernel) not in _LANE_KERNELS:
            break
        count += 1
    convolves = any(isinstance(layer, (Conv2D, BatchNormalization)) for layer in layers[:count])
    return count if convolves else 0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- shared arrays ---------------------------------------------------------------------------
class SharedArrays:
    """Named arrays in one anonymous shared-memory file (``memfd``) both processes map.

    ``spec``: ``[(name, shape, dtype string)]``; each array starts on a 64-byte boundary."""

    def __init__(self, spec: Sequence[tuple[str, tuple[int, ...], str]], fd: int | None = None):
        self.spec = list(spec)
        offsets, total = [], 0
        for _, shape, dtype in self.spec:
            offsets.append(total)
            total += -(-int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize // 64) * 64
        self.size = max(total, 64)
        if fd is None:
            fd = os.memfd_create("gdsim-lanes")
            os.ftruncate(fd, self.size)
        self.fd = fd
        self._map = mmap.mmap(fd, self.size)
        self.arrays = {name: np.ndarray(shape, dtype, buffer=self._map, offset=offset)
                       for (name, shape, dtype), offset in zip(self.spec, offsets)}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def close(self) -> None:
        self.arrays = {}
        try:
            self._map.close()
        except BufferError:  # a view is still alive somewhere: the mapping goes with it
            pass
        os.close(self.fd)


def build_spec(layers: Sequence[Layer], batch: int) -> list[tuple[str, tuple[int, ...], str]]:
    """The shared arrays of a lane prefix for batches of up to ``batch`` samples: the worker's
    input half ``x``, per layer its weights ``w{i}.{name}``, partial weight gradients
    ``g{i}.{name}``, dropout mask ``mask{i}`` and two whole-batch masks drawn ahead
    ``premask{i}`` (:meth:`Lanes.draw_ahead`), BatchNormalization's swapped sums ``bn{i}``
    ``(3 passes, 2 lanes, 2 sums, C)``, and the prefix's output and its gradient (whole batch)."""
    dtype = layers[0].dtype.str
    half = (batch + 1) // 2
    spec = [("x", (half,) + tuple(layers[0].build_input_shape), dtype)]
    spec += weight_spec(layers)
    for i, layer in enumerate(layers):
        for name in layer.weight_names:
            value = getattr(layer, name)
            spec.append((f"g{i}.{name}", value.shape, value.dtype.str))
        if isinstance(layer, Dropout):
            shape = layer.mask_shape((half,) + tuple(layer.build_input_shape))
            spec.append((f"mask{i}", shape, "|b1"))
            whole = layer.mask_shape((batch,) + tuple(layer.build_input_shape))
            spec.append((f"premask{i}", (2,) + tuple(whole), "|b1"))
        if isinstance(layer, BatchNormalization):
            spec.append((f"bn{i}", (3, 2, 2, layer.moving_mean.shape[0]), layer.moving_mean.dtype.str))
            spec.append((f"bn{i}.written", (3, 2), "<i8"))  # the pass whose sums a lane wrote
    out_shape = layers[-1].compute_output_shape(tuple(layers[-1].build_input_shape))
    spec.append(("out", (batch,) + tuple(out_shape), dtype))
    spec.append(("gout", (batch,) + tuple(out_shape), dtype))
    return spec


def weight_spec(layers: Sequence[Layer]) -> list[tuple[str, tuple[int, ...], str]]:
    """The shared arrays ``w{i}.{name}`` holding every weight of ``layers`` (trainable or not)."""
    return [(f"w{i}.{name}", getattr(layer, name).shape, getattr(layer, name).dtype.str)
            for i, layer in enumerate(layers) for name in layer.weight_names]


def publish_weights(layers: Sequence[Layer], shared: SharedArrays) -> None:
    """Copy the current weights of ``layers`` into their shared arrays (for the worker)."""
    for i, layer in enumerate(layers):
        for name in layer.weight_names:
            np.copyto(shared[f"w{i}.{name}"], getattr(layer, name))


def install_weights(layers: Sequence[Layer], shared: SharedArrays) -> None:
    """The worker's side of :func:`publish_weights`: its layers read the shared arrays (every
    pass: a forward may have rebound an attribute, BatchNormalization's moving statistics)."""
    for i, layer in enumerate(layers):
        for name in layer.weight_names:
            setattr(layer, name, shared[f"w{i}.{name}"])


class Exchange:
    """BatchNormalization's swap of channel sums between the lanes: this lane writes its part's
    sums ``(k, C)``, marks in shared memory the pass whose sums it wrote, waits for the other's
    mark (:func:`wait_for_mark`), and returns both sums in batch order. Each pass (forward
    mean, forward variance, backward) has a buffer of its own, so a lane that runs ahead never
    overwrites sums the other has not read yet. With ``marks`` false (machines without
    :data:`ORDERED_STORES`) a socket message takes the place of the mark."""

    def __init__(self, conn: Connection, buffer: np.ndarray, written: np.ndarray, lane: int,
                 tag: int, marks: bool) -> None:
        self.conn, self.buffer, self.written, self.lane, self.tag = conn, buffer, written, lane, tag
        self.marks = marks  # marks in shared memory (ORDERED_STORES), or socket messages
        self.calls = 0
        self.passes = 0  # passes begun (both lanes count the same)
        self.batch = 0  # samples in the whole batch of the current pass

    def __call__(self, mine: np.ndarray) -> list[np.ndarray]:
        k = mine.shape[0]
        call, other = self.calls, 1 - self.lane
        slot = self.buffer[call]
        self.calls += 1
        slot[self.lane, :k] = mine
        if self.marks:
            self.written[call, self.lane] = self.passes  # after the sums: seen, they are there
            wait_for_mark(self.written, (call, other), self.passes, self.conn)
        else:
            self.conn.send(("sums", self.tag, self.calls))
            receive(self.conn, ("sums", self.tag, self.calls))
        theirs = slot[other, :k].copy()
        return [mine, theirs] if self.lane == 0 else [theirs, mine]


def wait_for_mark(marks: np.ndarray, index: tuple[int, ...], value: int, conn: Connection) -> None:
    """Return once ``marks[index] == value`` (the other lane wrote it): a short spin, then
    checks with a ``sched_yield`` between them, then sleeps on the socket (:data:`SPIN`,
    :data:`YIELDS`, :data:`SLEEP`). A message that comes while the mark is still missing is
    the other lane's error report or end (:class:`LaneError`): it sends nothing else before
    its mark."""
    for _ in range(SPIN):
        if marks[index] == value:
            return
    for _ in range(YIELDS):
        if marks[index] == value:
            return
        os.sched_yield()
    while marks[index] != value:
        if select.select([conn], [], [], SLEEP)[0] and marks[index] != value:
            expect(next_message(conn), ("nothing before the mark",))


def drawing_dropouts(layers: Sequence[Layer]) -> list[tuple[int, Dropout]]:
    """``(index, layer)`` of each Dropout layer that draws a mask in a training pass, in layer
    order (the order the reference draws in)."""
    return [(i, layer) for i, layer in enumerate(layers)
            if isinstance(layer, Dropout) and layer.draws(True)]


def distinct_generators(dropouts: Sequence[tuple[int, Dropout]]) -> list[np.random.Generator]:
    """The generators of ``dropouts``, each once, in order of first use (layers built from one
    model's generator share it)."""
    return list({id(layer.generator): layer.generator for _, layer in dropouts}.values())


def same_state(a: Any, b: Any) -> bool:
    """Whether two ``bit_generator.state`` values are equal (MT19937's holds an array)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(same_state(a[key], b[key]) for key in a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def draw_masks_ahead(layers: Sequence[Layer], shared: SharedArrays, n: int, buffer: int,
                     states: Sequence[dict]) -> list[dict]:
    """The worker's side of :meth:`Lanes.draw_ahead`: from the generator ``states`` (one per
    :func:`distinct_generators`), each drawing Dropout layer's next mask for a batch of ``n``,
    in layer order, by :func:`gdsim.nn.ops.dropout_mask` (the reference's draw) into
    ``premask{i}[buffer]``; returns the states after the draws."""
    dropouts = drawing_dropouts(layers)
    generators = distinct_generators(dropouts)
    for generator, state in zip(generators, states):
        generator.bit_generator.state = state
    for i, layer in dropouts:
        shape = layer.mask_shape((n,) + tuple(layer.build_input_shape))
        shared[f"premask{i}"][buffer][:shape[0]] = ops.dropout_mask(layer.generator, shape, layer.rate)
    return [generator.bit_generator.state for generator in generators]


class LaneError(RuntimeError):
    """The other lane failed (its message is included) or sent something unexpected."""


class CannotHold(LaneError):
    """The worker cannot have a copy of these layers: the engine computes them here alone
    (same bits, one core)."""


ENDED = ("the lane worker process ended in the middle of a step or an inference pass "
         "(killed?); the next one starts a new worker (resume from a checkpoint to continue "
         "bit for bit)")


def next_message(conn: Connection) -> Any:
    """The other process's next message; its end raises :class:`LaneError`. Before it blocks
    on the socket, it looks for the message up to :data:`POLLS` times with a ``sched_yield``
    between looks: a message sent to a process that is not blocked costs its sender no wake-up
    (a system call of some 30 us on this VM) and its reader no time to wake."""
    try:
        fd = conn.fileno()
        for _ in range(POLLS):
            if select.select([fd], [], [], 0)[0]:
                break
            os.sched_yield()
        return conn.recv()
    except (EOFError, OSError):
        raise LaneError(ENDED) from None


def receive(conn: Connection, wanted: tuple) -> None:
    """Wait for the other lane's message ``wanted``; its error report, anything unexpected or
    the other process's end raises :class:`LaneError`."""
    expect(next_message(conn), wanted)


def expect(message: Any, wanted: tuple) -> None:
    """Check the other lane's message; an error report or anything unexpected raises."""
    if message == wanted:
        return
    if isinstance(message, tuple) and message and message[0] == "error":
        raise LaneError(f"the lane worker process failed: {message[1]}")
    raise LaneError(f"the lane worker process sent {message!r}, expected {wanted!r}")


def lane_kernels(layers: Sequence[Layer], conn: Connection, shared: SharedArrays,
                 lane: int, marks: bool) -> list[Kernel]:
    """Kernels for one lane's part of the prefix: no further split, sums swapped (through
    marks in shared memory or socket messages: :class:`Exchange`)."""
    kernels = []
    for i, layer in enumerate(layers):
        kernel = kernel_for(layer, False)
        kernel.one_part = True
        if isinstance(kernel, BatchNormalizationKernel):
            kernel.exchange = Exchange(conn, shared[f"bn{i}"], shared[f"bn{i}.written"], lane, i,
                                       marks)
        kernels.append(kernel)
    return kernels


def whole_batch_grads(kernel: Kernel) -> bool:
    """Whether a lane kernel's weight gradients are the whole batch's already (BatchNormalization's
    are sums the lanes swapped), not one part's to be added to the other lane's."""
    return isinstance(kernel, BatchNormalizationKernel)


def reset_exchanges(kernels: Sequence[Kernel], batch: int) -> None:
    """A new pass over a batch of ``batch`` samples (a step, or an inference batch) starts
    each swap buffer from the first."""
    for kernel in kernels:
        if isinstance(kernel, BatchNormalizationKernel) and kernel.exchange is not None:
            kernel.exchange.calls, kernel.exchange.batch = 0, batch
            kernel.exchange.passes += 1


def run_forward(kernels: Sequence[Kernel], x: np.ndarray, training: bool,
                batch_statistics: bool, scratch_input: bool = False) -> np.ndarray:
    """A lane's forward pass over its part (training: the fast kernels' training forward);
    ``scratch_input``: ``x`` is a temporary the first kernel may overwrite."""
    y, temporary = x, scratch_input
    for kernel in kernels:
        if training:
            y = kernel.forward(y, temporary)
            temporary = not kernel.keeps_output
        else:
            y = kernel.infer(y, temporary, batch_statistics)
            temporary = kernel.infers_temporary and not np.may_share_memory(y, x)
    return y


def run_backward(kernels: Sequence[Kernel], g: np.ndarray) -> None:
    """A lane's backward pass (no dL/dx out of the first layer)."""
    for index in range(len(kernels) - 1, -1, -1):
        g = kernels[index].backward(g, index > 0, True)


# -- the worker process, seen from here ------------------------------------------------------
class _Worker:
    """The one lane worker process of this process (started on first use, shared by models)."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gdsim.nn.fast.lane_worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.socket = mine
        self.conn = Connection(os.dup(mine.fileno()))
        #: role ("prefix", "inference") -> (the object whose layers the worker holds in it,
        #: a watch on those layers' settings)
        self.owners: dict[str, tuple[Any, layer_settings.Watch]] = {}

    def holds(self, role: str, owner: Any, layers: Sequence[Layer]) -> bool:
        """Whether the worker holds ``owner``'s ``layers`` in ``role``, with their settings as
        they are now."""
        held = self.owners.get(role)
        return held is not None and held[0] is owner and held[1].unchanged(layers)

    def hold(self, role: str, owner: Any, layers: Sequence[Layer], shared: SharedArrays,
             marks: bool = False) -> None:
        """Hand the worker a pickled copy of ``layers`` and the shared arrays for ``role``
        (``marks``: how its swaps go, :class:`Exchange`);
        :class:`CannotHold` when the layers do not pickle here or unpickle there (a custom
        layer or activation defined in ``__main__`` or inside a function). The worker itself
        is fine either way."""
        self.owners.pop(role, None)  # whatever the worker held in this role goes now
        try:
            blob = pickle.dumps(list(layers), protocol=pickle.HIGHEST_PROTOCOL)
            watch = layer_settings.Watch(layers)
        except Exception as error:
            raise CannotHold(f"the layers do not pickle: {error}") from None
        self.conn.send(("init", role, blob, shared.spec, marks))
        socket.send_fds(self.socket, [b"f"], [shared.fd])
        message = next_message(self.conn)
        if isinstance(message, tuple) and message[:1] == ("cannot hold",):
            raise CannotHold(message[1])
        expect(message, ("ready",))
        self.owners[role] = (owner, watch)

    def stop(self, kill: bool = False) -> None:
        """End the process: asked to stop (killed if it does not within 5 s), or killed."""
        if not kill:
            try:
                self.conn.send(("stop",))
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill:
            self.process.kill()
            self.process.wait()
        self.conn.close()
        self.socket.close()


_worker: _Worker | None = None
_worker_pid = 0
#: held from a step's forward to the end of its backward, or for an inference forward or a
#: whole paired inference pass: the one worker serves one model's pass at a time, whichever
#: thread it comes from
turn = threading.RLock()


def get_worker() -> _Worker:
    """This process's lane worker, started if there is none (or it has ended)."""
    global _worker, _worker_pid
    if _worker is None or _worker_pid != os.getpid() or _worker.process.poll() is not None:
        if _worker is not None and _worker_pid == os.getpid():
            _worker.stop()
        _worker, _worker_pid = _Worker(), os.getpid()
    return _worker


@atexit.register
def stop_worker(kill: bool = False) -> None:
    """The worker of this process, if any, ended (:meth:`_Worker.stop`)."""
    global _worker
    if _worker is not None and _worker_pid == os.getpid():
        _worker.stop(kill)
    _worker = None


class Lanes:
    """The lane prefix of one model: this process's lane kernels and the worker's."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        self.kernels: list[Kernel] = []
        self.shared: SharedArrays | None = None
        self.batch = 0
        first = layers[0].compute_output_shape(tuple(layers[0].build_input_shape))
        self._values_per_sample = int(np.prod(first))  # of the first layer's output
        self._cores = cores()
        self._step_worker: _Worker | None = None  # the worker of the step in flight
        #: the premask buffer this step's masks came from (None: drawn here, in mask{i})
        self._buffer: int | None = None
        #: masks the worker is drawing ahead, asked for in this step: (buffer, n, states before)
        self._drawing: tuple[int, int, list[dict]] | None = None
        #: masks drawn ahead for the next step: (buffer, n, states before, states after)
        self._ahead: tuple[int, int, list[dict], list[dict]] | None = None

    def serves(self, shape: tuple[int, ...]) -> bool:
        """Whether a batch of ``shape`` runs in two lanes (a speed choice only)."""
        n = shape[0]
        return n >= 2 and n * self._values_per_sample >= MIN_VALUES and self._cores >= 2

    def _ready(self, n: int) -> _Worker:
        """The worker, holding this prefix and shared arrays for batches of ``n``."""
        worker = get_worker()
        if not worker.holds("prefix", self, self.layers) or n > self.batch:
            if self.shared is not None:
                self.shared.close()
            self.batch = max(n, self.batch)
            self.shared = SharedArrays(build_spec(self.layers, self.batch))
            self._ahead = None
            marks = ORDERED_STORES  # read once: both lanes swap the same way
            self.kernels = lane_kernels(self.layers, worker.conn, self.shared, 0, marks)
            worker.hold("prefix", self, self.layers, self.shared, marks)
        return worker

    def _draw_masks(self, n: int, half: int) -> list[tuple[np.random.Generator, dict]]:
        """The dropout masks of the whole batch, as the reference draws them (one draw per
        layer, in layer order): drawn ahead by the worker in the last step
        (:meth:`draw_ahead`) when they are for a batch of ``n`` and every generator is still
        in the state they were drawn from; else drawn here now. This lane keeps the first half,
        the worker gets the second (a mask shared along the batch axis goes whole to both).
        Returns each generator's state before the draws (restored if the step fails)."""
        dropouts = drawing_dropouts(self.layers)
        generators = distinct_generators(dropouts)
        saved = [(generator, generator.bit_generator.state) for generator in generators]
        ahead, self._ahead, self._buffer = self._ahead, None, None
        if ahead is not None and ahead[1] == n and all(
                same_state(state, before) for (_, state), before in zip(saved, ahead[2])):
            self._buffer = ahead[0]
            for generator, after in zip(generators, ahead[3]):
                generator.bit_generator.state = after
        for i, layer in dropouts:
            shape = layer.mask_shape((n,) + tuple(layer.build_input_shape))
            whole = shape[0] == n  # a mask per sample (not one shared along the batch axis)
            if self._buffer is not None:
                mask = self.shared[f"premask{i}"][self._buffer][:shape[0]]
            else:
                mask = self.kernels[i].draw_mask(shape)
                if whole:
                    self.shared[f"mask{i}"][:n - half] = mask[half:]
                else:
                    self.shared[f"mask{i}"][:1] = mask
            self.kernels[i].lane_mask = mask[:half] if whole else mask
        return saved

    def draw_ahead(self, n: int) -> None:
        """Ask the worker, idle while the layers after the prefix run here, to draw the next
        step's masks (:func:`draw_masks_ahead`) from the generators' states now: called after
        the last draw of this step (the layers after the prefix may share a generator). The
        next step takes the masks if nothing drew from those generators in between
        (:meth:`_draw_masks`), so the bits are the reference's either way. The answer is
        read before the backward pass begins."""
        generators = distinct_generators(drawing_dropouts(self.layers))
        if not generators:
            return
        buffer = 0 if self._buffer != 0 else 1  # not the buffer this step's masks are in
        states = [generator.bit_generator.state for generator in generators]
        self._step_worker.conn.send(("draw", n, buffer, states))
        self._drawing = (buffer, n, states)

    def _take_drawn(self, worker: _Worker) -> None:
        """Read the worker's answer to :meth:`draw_ahead`, if one was asked for."""
        drawing, self._drawing = self._drawing, None
        if drawing is not None:
            message = next_message(worker.conn)
            if not (isinstance(message, tuple) and message[:1] == ("drawn",)):
                expect(message, ("drawn",))
            self._ahead = drawing + (message[1],)

    def forward(self, x: np.ndarray, training: bool, batch_statistics: bool = False) -> np.ndarray:
        """The prefix's output for the whole batch ``x`` (an array shared with the worker,
        valid until the next call), computed in two lanes; in training the backward must
        follow (:meth:`backward`)."""
        n = x.shape[0]
        half = (n + 1) // 2
        turn.acquire()
        saved: list = []
        try:
            worker = self._ready(n)
            publish_weights(self.layers, self.shared)
            if training:
                saved = self._draw_masks(n, half)
            np.copyto(self.shared["x"][:n - half], x[half:])
            worker.conn.send(("forward", n, training, batch_statistics, self._buffer))
            reset_exchanges(self.kernels, n)
            mine = run_forward(self.kernels, x[:half], training, batch_statistics)
            out = self.shared["out"][:n]
            out[:half] = mine
            receive(worker.conn, ("forwarded",))
        except CannotHold:  # before any work, and the worker is fine: it stays
            self._let_go()
            turn.release()
            raise
        except BaseException as error:
            self.fail(saved)
            turn.release()
            if isinstance(error, BrokenPipeError):
                raise LaneError(ENDED) from None
            raise
        if training:  # the turn is kept until the backward pass (or abandon)
            self._saved, self._step_worker = saved, worker
        else:
            turn.release()
        return out

    def backward(self, g: np.ndarray) -> list[list[np.ndarray]]:
        """The prefix's backward pass from ``g = dL/d(output)`` of the whole batch; returns the
        weight gradients of each trainable prefix layer (this lane's plus the worker's)."""
        n = g.shape[0]
        half = (n + 1) // 2
        worker = self._step_worker  # the one that ran this step's forward (never a new one)
        try:
            self._take_drawn(worker)  # drawn while the layers after the prefix ran here
            np.copyto(self.shared["gout"][half:n], g[half:])
            worker.conn.send(("backward",))
            run_backward(self.kernels, g[:half])
            receive(worker.conn, ("backwarded",))
        except BaseException as error:
            self.fail(self._saved)
            if isinstance(error, BrokenPipeError):
                raise LaneError(ENDED) from None
            raise
        finally:
            turn.release()
        grads = []
        for i, (layer, kernel) in enumerate(zip(self.layers, self.kernels)):
            if layer.trainable and layer.trainable_weights:
                mine = kernel.take_grads()
                if whole_batch_grads(kernel):
                    grads.append(mine)
                    continue
                names = layer.weight_names[:len(mine)]  # the trainable ones come first
                grads.append([ops.add_in_order([a, self.shared[f"g{i}.{name}"]])
                              for a, name in zip(mine, names)])
        return grads

    def abandon(self) -> None:
        """A training step that failed between the forward and the backward pass (in the
        layers after the prefix): the worker waits for its next pass (its answer to
        :meth:`draw_ahead`, if asked for, read first); the turn is given up."""
        try:
            self._take_drawn(self._step_worker)
        except LaneError:  # the worker failed or ended: the next pass starts a new one
            stop_worker(kill=True)
            self._let_go()
        finally:
            turn.release()

    def fail(self, saved: Sequence[tuple[np.random.Generator, dict]]) -> None:
        """After a failed lane pass: the worker is stopped, the dropout draws undone (the
        caller gives up the turn)."""
        for generator, state in saved:
            generator.bit_generator.state = state
        for kernel in self.kernels:
            if isinstance(kernel, DropoutKernel):
                kernel.lane_mask = None
        stop_worker(kill=True)
        self._let_go()

    def _let_go(self) -> None:
        """The lane kernels and shared arrays dropped (made anew by the next pass)."""
        self.kernels, self.batch = [], 0
        self._drawing = self._ahead = None
        if self.shared is not None:
            self.shared.close()
            self.shared = None
