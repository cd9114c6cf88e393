"""Control the number of OpenBLAS threads NumPy uses (no threadpoolctl needed).

Why: a numerics guarantee first. OpenBLAS splits a GEMM into blocks by thread count and the
blocks round differently, so the same product can differ in its last bits between one and
two threads; ``Sequential.fit``/``evaluate``/``predict`` (both engines) therefore run the
network's GEMMs at one thread (:func:`blas_threads`), which makes "same seed, same bits" hold
on any number of cores. It is also the fast setting for the network's small GEMMs: two
threads spin-waiting on each other on a busy 2-core machine are much slower than one.

The setter is looked up in the OpenBLAS library NumPy already loaded (Linux: found through
``/proc/self/maps``; otherwise next to NumPy). If none is found (another BLAS, another OS),
everything here is a harmless no-op and :func:`available` returns ``False``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from typing import Iterator

from gdsim import _validate

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")

_library: tuple | None = None
_searched = False


def _candidate_paths() -> list[str]:
    """Loaded OpenBLAS libraries, NumPy's own first (SciPy, pulled in by Keras/JAX, loads its
    own OpenBLAS too, and its thread count or kernels are not the ones NumPy uses)."""
    import numpy

    libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    if not paths and os.path.isdir(libs):
        paths += [os.path.join(libs, f) for f in sorted(os.listdir(libs)) if "openblas" in f.lower()]
    return sorted(paths, key=lambda path: not path.startswith(libs + os.sep))


def _find() -> tuple | None:
    global _library, _searched
    if _searched:
        return _library
    _searched = True
    import numpy  # noqa: F401  (make sure NumPy's BLAS is loaded first)

    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            _library = (setter, getter)
            break
    return _library


def available() -> bool:
    """Whether the OpenBLAS thread count can be controlled in this process."""
    return _find() is not None


def get_threads() -> int | None:
    """Current OpenBLAS thread count, or ``None`` if it cannot be read."""
    found = _find()
    return None if found is None else int(found[1]())


def set_threads(n: int) -> bool:
    """Set the OpenBLAS thread count (process-wide); ``False`` if not possible."""
    n = _validate.integer("n", n, minimum=1)
    found = _find()
    if found is None:
        return False
    found[0](n)
    return True


#: the thread counts asked for by the ``blas_threads`` blocks running now (any thread), in the
#: order they began (each with a token of its own), and the count from before the first of them:
#: OpenBLAS has one count per process, so two models fitting in two threads must not restore it
#: under each other
_asked: list[tuple[object, int]] = []
_before: int | None = None
_asked_lock = threading.Lock()


@contextlib.contextmanager
def blas_threads(n: int | None = 1) -> Iterator[bool]:
    """Run a block with ``n`` OpenBLAS threads (``None``: leave as is); when the last block
    running ends (in any thread), the count from before the first is restored. Blocks that
    overlap in several threads share the process's one count: the latest block's ``n`` holds
    until it ends. Yields whether the setting took effect."""
    global _before
    if n is None:
        yield False
        return
    n = _validate.integer("n", n, minimum=1)
    with _asked_lock:
        if not _asked:
            _before = get_threads()
        block = object()
        _asked.append((block, n))
        changed = set_threads(n)
    try:
        yield changed
    finally:
        with _asked_lock:
            _asked.remove((block, n))  # this block's entry: its token equals no other
            now = _asked[-1][1] if _asked else _before
            if changed and now is not None:
                set_threads(now)
