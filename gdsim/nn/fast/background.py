"""Work that can run beside the main chain of a training step, on a second core (same bits).

Why: during ``fit`` OpenBLAS runs single-threaded (see :mod:`gdsim.nn.blas`), so the second
core of a 2-core machine would sit idle while the main thread walks the layers. Some of a
step's work is not on that chain, and one background thread takes it
(:mod:`gdsim.nn.fast.kernels`, :mod:`gdsim.nn.fast.engine`):

- weight gradients: a convolution's ``dW = P^T g`` (a GEMM as costly as its forward) is
  needed only by the optimizer, while ``dL/dx`` is needed at once by the layer below;
- dropout masks depend on nothing but the layer's generator: drawn while the layers before run;
- max-pooling's first-maximum masks depend on the forward only: worked out while the later
  layers run, and the strided backward scatter (bound by memory latency, not arithmetic)
  runs in two batch halves, one per core;
- the next batch is gathered and its im2col built during the current step.

Not split: a GEMM (OpenBLAS rounds a row block differently when the matrix is cut) and
streaming element-wise passes such as ReLU (the hand-over between threads costs about what
the second core saves).

Same bits: the background thread makes exactly the calls the main thread would make, on the
same arrays and generators and in the same order (one thread, first in first out), so the
result does not depend on whether (or where) it runs; BLAS, NumPy and its generators release
the GIL inside those calls. Nothing may write to the arrays a pending task reads: the kernels
hand over cached forward values and incoming gradients that no later step of the pass
modifies, and every pending result is collected before the optimizer step and the next
forward pass.

Why one thread, shared by every model: more threads would only compete for the cores.
"""

from __future__ import annotations

import contextvars
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
    # in the caller's context: NumPy keeps np.errstate in a context variable, and fit's
    # "overflow is data" settings must hold on this thread as on the main one
    return _executor.submit(contextvars.copy_context().run, fn, *args)


def drain() -> None:
    """Wait until every task submitted so far has finished (the queue is first in, first out:
    waiting for a no-op queued now waits for all of them)."""
    if _executor is not None and _owner_pid == os.getpid():
        submit(lambda: None).result()
