"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the argument,
shows the value received and says what was expected, e.g.::

    ValueError: learning_rate must be > 0, got -0.1

They return the (possibly converted) value so they can be used inline.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import os
import tempfile
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from gdsim._io import temp_prefix


def show(value: Any) -> str:
    """A short one-line repr: error messages stay on one line (the CLI prints exactly one)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def real(name: str, value: Any) -> float:
    """A finite or non-finite real scalar. Refused: bools (``True`` is not a learning rate),
    NumPy bools, complex numbers, strings, bytes, types, and ints too large for a float."""
    if (isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(value, numbers.Real)
            or isinstance(value, type)):
        raise TypeError(f"{name} must be a real number, got {show(value)} of type {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a real number within the float range (about "
                         f"1.8e308), got an integer of {len(str(abs(int(value))))} digits") from None


def finite(name: str, value: Any) -> float:
    value = real(name, value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def positive(name: str, value: Any) -> float:
    """A finite real > 0."""
    value = finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def nonnegative(name: str, value: Any) -> float:
    value = finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def in_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
             high_open: bool = True) -> float:
    """A finite real in the interval given; the brackets in the message show which ends are open."""
    value = finite(name, value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def integer(name: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """A Python or NumPy integer (not a bool, not a float), optionally in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {show(value)} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {show(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {show(value)}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {show(value)}")
    return bool(value)


def choice(name: str, value: Any, options: Iterable[str]) -> str:
    """One of ``options``; the error lists them all and suggests the closest match."""
    options = list(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {options}, got {show(value)}")
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {name} {show(value)}{hint}; expected one of {options}")
    return value


def float_dtype(name: str, value: Any) -> np.dtype:
    """``float32`` or ``float64`` given as a string, a NumPy type or a dtype. Not None:
    ``np.dtype(None)`` is float64, a silent choice (where None means something -- Keras's
    float32 in ``Sequential`` -- the caller says so before asking here)."""
    if value is None or isinstance(value, (numbers.Number, np.generic)):  # np.dtype(np.float64(0.25)) works
        raise TypeError(f"{name} must be 'float32' or 'float64', got {show(value)}")
    try:
        with warnings.catch_warnings():  # np.dtype("5a") warns (a deprecated alias): refused anyway
            warnings.simplefilter("ignore")
            dtype = np.dtype(value)
    except (TypeError, SyntaxError, ValueError):  # np.dtype(",") parses a comma string: SyntaxError
        raise TypeError(f"{name} must be 'float32' or 'float64', got {show(value)}") from None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        # a string as typed ('5a'), not NumPy's reading of it (|S5)
        raise ValueError(f"{name} must be 'float32' or 'float64', got "
                         f"{show(value) if isinstance(value, str) else dtype}")
    return dtype


#: dtype kinds a numeric argument may have: bool, signed/unsigned int, float. Refused: complex
#: ('c', the imaginary part would be dropped), timedelta/datetime ('m'/'M', NumPy counts them as
#: integers), strings, bytes, objects and records.
NUMERIC_KINDS = "biuf"


def array(name: str, value: Any, *, dtype: Any = None, ndim: int | Sequence[int] | None = None,
          allow_empty: bool = False, require_finite: bool = True) -> np.ndarray:
    """A real numeric array (bool, int or float), optionally of the given rank(s), non-empty and
    finite; with ``dtype`` it is cast to it, after checking that every value is finite *in that
    dtype* (1e300 is finite in float64, not in float32: it is refused, not turned into inf)."""
    if isinstance(value, (str, bytes, bytearray, memoryview, type)) or value is None:
        raise TypeError(f"{name} must be a numeric array, got {show(value)} of type "
                        f"{type(value).__name__}")
    try:
        result = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {show(value)} ({' '.join(str(exc).split())})") from None
    if result.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"{name} must be a real numeric array (bool, int or float), got dtype "
                        f"{result.dtype}")
    source = result
    if dtype is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is diagnosed below
            result = result.astype(np.dtype(dtype), copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if result.ndim not in allowed:
            ranks = " or ".join(str(r) for r in allowed)
            raise ValueError(f"{name} must have rank {ranks}, got shape {result.shape}")
    if not allow_empty and result.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {result.shape}")
    if require_finite and result.dtype.kind == "f" and not np.all(np.isfinite(result)):
        _refuse_non_finite(name, source, result)
    return result


def _refuse_non_finite(name: str, source: np.ndarray, result: np.ndarray) -> None:
    """The error for a cast ``result`` of ``source`` holding inf/NaN: a value finite in
    ``source``'s dtype but too large for ``result``'s (1e300 in float32) is named as such."""
    finite = np.isfinite(source) if source.dtype.kind == "f" else np.ones(source.shape, bool)
    overflowed = finite & ~np.isfinite(result)
    if overflowed.any():
        big = float(np.abs(source[overflowed]).max())
        raise ValueError(f"{name} must be finite in {result.dtype}, got a value of magnitude "
                         f"{big:.3g} (the {result.dtype} limit is {np.finfo(result.dtype).max:.3g})")
    bad = int(result.size - np.count_nonzero(np.isfinite(result)))
    raise ValueError(f"{name} must be finite, got {bad} inf/NaN value(s)")


def shape(name: str, value: np.ndarray, expected: Sequence[int | None]) -> np.ndarray:
    """``value.shape`` must equal ``expected`` where ``expected`` is not None."""
    ok = value.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, value.shape))
    if not ok:
        shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {shown}, got {value.shape}")
    return value


def seed(name: str, value: Any) -> np.random.SeedSequence:
    """``None`` (fresh OS entropy), an int >= 0, a SeedSequence, or a Generator (its seed sequence)."""
    if value is None or isinstance(value, np.random.SeedSequence):
        return value if value is not None else np.random.SeedSequence()
    if isinstance(value, np.random.Generator):
        return value.bit_generator.seed_seq
    return np.random.SeedSequence(integer(name, value, minimum=0))


def finite_in(name: str, value: Any, dtype: Any) -> float:
    """A real scalar finite in ``dtype`` as well as in float64 (1e39 is not a float32)."""
    value = finite(name, value)
    limit = float(np.finfo(np.dtype(dtype)).max)
    if abs(value) > limit:
        raise ValueError(f"{name} must be finite in {np.dtype(dtype)} (|value| <= {limit:.4g}), "
                         f"got {value:g}")
    return value


def sequence(name: str, value: Any, what: str = "items") -> list:
    """A list, tuple or 1-d array (not a string, bytes, a bytearray, a set, a 0-d array or a
    single item), returned as a list."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return list(value)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of {what}, got {show(value)} of type "
                        f"{type(value).__name__}")
    return list(value)


def shape_tuple(name: str, value: Any) -> tuple[int, ...]:
    """A shape without the batch axis: a non-empty tuple/list of integers >= 1 (an int is one
    axis). ``b"0.5"``, ``(2.7,)`` and ``"32"`` are refused, not read as byte codes or truncated."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    items = sequence(name, value, "positive integers")
    if not items:
        raise ValueError(f"{name} must have at least one axis, got {show(value)}")
    for item in items:
        if (isinstance(item, (bool, np.bool_, np.timedelta64)) or not isinstance(item, numbers.Integral)
                or item < 1):
            raise ValueError(f"{name} must be a tuple of integers >= 1, got {show(value)}")
        if item > 2**31:
            raise ValueError(f"{name} axes must be <= 2**31, got {show(value)}")
    return tuple(int(item) for item in items)


# ----------------------------------------------------------------------------- sizes
#: The memory limit, as a fraction of the machine's physical memory, that an up-front estimate
#: must stay under (GDSIM_MEMORY_LIMIT_BYTES overrides it). Past it a run is refused before it
#: starts, with the estimate and the limit, instead of dying minutes later in a MemoryError.
MEMORY_FRACTION = 0.5


def memory_limit() -> int:
    """Bytes one gdsim call may plan to hold: ``MEMORY_FRACTION`` of physical memory, or
    ``GDSIM_MEMORY_LIMIT_BYTES`` when set."""
    override = os.environ.get("GDSIM_MEMORY_LIMIT_BYTES")
    if override:
        return int(override)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB
        total = 8 << 30
    return int(total * MEMORY_FRACTION)


def _bytes(n: float) -> str:
    """``"3.2 GB"``: three significant digits, in the largest unit that fits."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def count(n: int) -> str:
    """An integer for a message: ``1,000,000`` up to 15 digits, then ``1.00e+400`` (a huge
    size keeps the error on one short line)."""
    digits = str(abs(int(n)))
    if len(digits) <= 15:
        return f"{int(n):,}"
    return f"{'-' if n < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def memory(name: str, estimate: float, what: str) -> None:
    """Refuse a call whose estimated memory (bytes) exceeds :func:`memory_limit`."""
    limit = memory_limit()
    if estimate > limit:  # estimate may be a huge Python int: compared exactly
        # (past any float's reach it cannot be divided into TB: it is just "more than 1e300")
        needs = "more than 1e300 bytes" if estimate >= 1e300 else f"about {_bytes(estimate)}"
        source = ("set by GDSIM_MEMORY_LIMIT_BYTES" if os.environ.get("GDSIM_MEMORY_LIMIT_BYTES")
                  else "half the physical memory; set GDSIM_MEMORY_LIMIT_BYTES to change it")
        raise ValueError(f"{name} is too large: {what} needs {needs}, more than "
                         f"the limit {_bytes(limit)} ({source})")


# ----------------------------------------------------------------------------- paths
def _path_text(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise TypeError(f"{name} must be a path (a str or os.PathLike naming a file), got {show(value)} of "
                        f"type {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{name} must be a non-empty file path, got {show(value)}")
    return path


def readable_file(name: str, value: Any) -> str:
    """A path naming an existing file (not a folder), checked before anything is read."""
    path = _path_text(name, value)
    if not os.path.isfile(path):
        what = "a folder" if os.path.isdir(path) else "not an existing file"
        raise ValueError(f"{name} {path!r} is {what}")
    return path


def writable_file(name: str, value: Any) -> str:
    """A path a file can be written to, checked before any work: a str or PathLike, not empty,
    not a folder, whose folder exists and accepts a new file. The probe creates and removes one
    empty temporary file there, leaving nothing behind."""
    path = _path_text(name, value)
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; give a file path inside it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {path!r}: the folder {folder!r} does not exist")
    try:
        # named like the target's own temporaries, so that one a kill leaves here is an
        # orphan the next save removes (gdsim._io.remove_orphans)
        fd, probe = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".probe", dir=folder)
    except OSError as exc:
        raise ValueError(f"{name} {path!r}: cannot write in {folder!r} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    if os.path.exists(path) and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise ValueError(f"{name} {path!r} is not writable")
    return path


def takes_step(name: str, fn: Any) -> bool:
    """Whether the callable ``fn`` (a learning rate or schedule function) is called with the
    step, gdsim's form ``f(step)``, rather than with nothing, Keras's ``f()``; a one-line
    :class:`TypeError` naming ``name`` if it takes neither."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: gdsim's form
        return True
    try:
        signature.bind(0)
    except TypeError:
        try:
            signature.bind()
        except TypeError:
            raise TypeError(f"{name} must take no argument (Keras's form) or one, the step "
                            f"(gdsim's form); got signature {signature}") from None
        return False
    return True
