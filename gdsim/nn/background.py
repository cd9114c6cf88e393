"""Work that can run beside the main chain of a training step, on a second core (same bits).

Why: a layer's weight gradient (for a convolution ``dW = P^T g``, a GEMM as costly as the
layer's forward) is needed only by the optimizer, after the whole backward pass, while
``dL/dx`` is needed at once by the layer below. OpenBLAS runs single-threaded during ``fit``
(see :mod:`gdsim.nn.blas`), so the second core of a 2-core machine is otherwise idle: handing
the weight-gradient GEMMs to one background thread overlaps them with the rest of the
backward pass. Likewise a Dropout layer's mask depends on nothing but its generator: it is
drawn while the layers before it compute (:meth:`gdsim.nn.layers.Dropout.prefetch`). And
max-pooling's backward, a strided scatter bound by memory latency rather than arithmetic,
routes the two halves of the batch on the two cores (samples are independent). Measured on
the seed CNN, all three together: ~11.0 -> ~9.5-10 ms per training step.

What is *not* split: a GEMM (OpenBLAS rounds a row block differently when the matrix is cut,
measured) and streaming element-wise passes such as ReLU (the ~50 us hand-over between
threads on this 2-core VM costs about what the second core saves, measured).

Same bits: the background thread makes exactly the calls the layer would make itself, on
the same arrays and generators and in the same order (one thread, first in first out), so
the result does not depend on whether (or where) it runs; BLAS, NumPy and its generators
release the GIL inside those calls. Nothing may write to the arrays a pending task
reads: the layers hand over their cached forward input and the incoming gradient, which no
later step of the backward pass modifies, and the model collects every pending gradient
(:attr:`Layer.grads <gdsim.nn.base.Layer.grads>` waits for it) before the optimizer step and
the next forward pass.

Why one thread, shared by every model: the work is a handful of GEMMs per step and the
machine has two cores; a thread per model would only compete for them.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

_executor: ThreadPoolExecutor | None = None
_owner_pid = 0  # a forked child inherits the executor but not its thread: it makes its own
_lock = threading.Lock()


def submit(fn: Callable[..., Any], *args: Any) -> Future:
    """Run ``fn(*args)`` on the shared background thread; the Future holds its result."""
    global _executor, _owner_pid
    if _executor is None or _owner_pid != os.getpid():
        with _lock:
            if _executor is None or _owner_pid != os.getpid():
                _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdsim-background")
                _owner_pid = os.getpid()
    return _executor.submit(fn, *args)

