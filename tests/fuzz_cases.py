"""The generated bad inputs of the fuzz sweep (tests/test_fuzz.py) and the rules that judge them.

Every argument of every entry point has a *kind* (a positive real, an integer >= 1, a bool, a
file path, an array of a given per-sample shape ...). A kind is a predicate ``valid(value)``:
the values it accepts are the deliberately valid odd ones (a learning rate of 7, ``momentum=0``),
and whatever it refuses must be refused by gdsim with a clear ``ValueError``/``TypeError``
naming the argument. The values come from a seeded generator: a fixed catalogue of hostile
values (wrong types, complex, bytes, types, huge ints, non-finite, finite in float64 but not
in float32, wrong shapes and dtypes) and random draws around each kind's edges.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import signal

import numpy as np


class Hang(BaseException):
    """Raised by :func:`time_limit`'s alarm. Not an Exception (and not TimeoutError, an
    OSError): no ``except`` in the code under test can swallow it and pass a hang off as an
    error message."""


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise :class:`Hang` in the block if it runs longer than ``seconds`` (SIGALRM)."""
    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _Object:
    def __repr__(self):
        return "<object>"


#: hostile scalars and containers, whatever the argument's kind
CATALOGUE = [
    None, True, False, np.bool_(True), "", "0.1", "abc", b"1", bytearray(b"1"), complex(1, 1),
    np.complex128(0.1 + 5j), float, int, _Object(), [], [1, 2], {}, set(), (), (2.7,), 10**400,
    -10**400, 2**63, math.nan, math.inf, -math.inf, 1e39, -1e39, 1e308, -1e308, 0, 0.0, -1, -0.5,
    -1e-12, 1.5, 0.5, 7, np.float32(np.nan), np.array(1.0), np.array([1.0, 2.0]),
    np.datetime64("2020-01-01"), np.timedelta64(1, "s"), np.int64(3), np.float64(0.25),
]

#: hostile arrays (for data arguments); each with 6 rows where a data set of 6 is expected
ARRAYS = [
    np.ones((6, 3)) + 1j, np.array([["1", "2", "3"]] * 6), np.full((6, 3), 1e300),
    np.full((6, 3), np.nan), np.full((6, 3), np.inf), np.ones((6, 3)).astype("m8[s]"),
    np.ones((6, 3)).astype("M8[s]"), np.array([[object()] * 3] * 6, dtype=object), np.ones((6, 4)),
    np.ones((6,)), np.ones((6, 3, 1)), np.ones((0, 3)), np.array([]), np.ones((5, 3)),
    [[1, 2], [3]], b"123", "123", np.array([b"ab"] * 6), np.ones((6, 3), dtype=np.float16) * 1e4,
]


def generated(kind: "Kind", rng: np.random.Generator, count: int) -> list:
    """``count`` random values near the edges of ``kind``'s valid range."""
    out = []
    for _ in range(count):
        pick = rng.integers(6)
        if pick == 0:
            out.append(float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(-300, 300)))
        elif pick == 1:
            out.append(int(rng.integers(-10**6, 10**6)))
        elif pick == 2:
            out.append(float(rng.uniform(-2, 2)))
        elif pick == 3:
            out.append("".join(rng.choice(list("ab-1.e_ "), size=int(rng.integers(0, 6)))))
        elif pick == 4:
            out.append(np.asarray(rng.uniform(-3, 3, size=tuple(rng.integers(0, 3, size=rng.integers(0, 3))))))
        else:
            out.append(int(rng.choice([-1, 1])) * 2 ** int(rng.integers(31, 70)))
    return out


def _real(v) -> bool:
    return (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_, type, np.timedelta64))
            and _fits(v))


def _fits(v) -> bool:
    try:
        float(v)
    except (OverflowError, TypeError, ValueError):
        return False
    return True


def _finite(v, limit=np.finfo(np.float64).max) -> bool:
    return _real(v) and math.isfinite(float(v)) and abs(float(v)) <= limit


def _integer(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_, np.timedelta64))


class Kind:
    """What an argument accepts. ``valid(value)`` is the rule; ``cheap(value)`` says whether
    a valid value is quick to run (a valid ``epochs=10**6`` is no bad input, only a long run:
    it is not called); ``paths`` marks a file-path argument, fuzzed with hostile paths."""

    def __init__(self, name, valid, cheap=lambda value: True, paths=False):
        self.name, self._valid, self._cheap, self.paths = name, valid, cheap, paths

    def valid(self, value) -> bool:
        """The rule; a value the rule cannot even judge (an array where a scalar is
        compared) is invalid, so gdsim must refuse it -- the strict side."""
        try:
            return bool(self._valid(value))
        except Exception:  # noqa: BLE001
            return False

    def cheap(self, value) -> bool:
        try:
            return bool(self._cheap(value))
        except Exception:  # noqa: BLE001
            return True


def real_array(rank_ok=lambda shape: True, dtype=np.float64, element=lambda a: True,
               finite=True, allow_empty=False):
    """An array argument: real (bool/int/float) values, finite in ``dtype`` (or any floats
    when ``finite`` is False), non-empty unless ``allow_empty``, a shape ``rank_ok`` accepts
    and values ``element(float64 array)`` accepts. Fuzzed with :data:`ARRAYS` as well."""
    def valid(v):
        if isinstance(v, (str, bytes, bytearray, type)) or v is None:
            return False
        try:
            a = np.asarray(v)
        except (ValueError, TypeError, OverflowError):
            return False
        if a.dtype.kind not in "biuf" or (a.size == 0 and not allow_empty) or not rank_ok(a.shape):
            return False
        with np.errstate(all="ignore"):
            f = a.astype(np.float64)
            if finite and not np.all(np.abs(f) <= np.finfo(dtype).max):
                return False
            return bool(element(f))
    return Kind("array", valid)


F32 = float(np.finfo(np.float32).max)
POSITIVE = Kind("positive real", lambda v: _finite(v) and float(v) > 0)
POSITIVE32 = Kind("positive real, finite in float32", lambda v: _finite(v, F32) and float(v) > 0)
NONNEG = Kind("real >= 0", lambda v: _finite(v) and float(v) >= 0)
FINITE = Kind("finite real", _finite)
FINITE32 = Kind("real finite in float32", lambda v: _finite(v, F32))
UNIT = Kind("real in [0, 1]", lambda v: _finite(v) and 0 <= float(v) <= 1)
UNIT_OPEN = Kind("real in [0, 1)", lambda v: _finite(v) and 0 <= float(v) < 1)
BOOL = Kind("bool", lambda v: isinstance(v, (bool, np.bool_)))
NONE = Kind("refuse everything", lambda v: False)


def int_at_least(low, high=10**6, cheap_up_to=None):
    """An integer in [low, high]; valid ones above ``cheap_up_to`` are not run (long runs)."""
    return Kind(f"integer in [{low}, {high}]", lambda v: _integer(v) and low <= int(v) <= high,
                (lambda v: True) if cheap_up_to is None else (lambda v: int(v) <= cheap_up_to))


def hyper(kind):
    """An optimizer hyper-parameter: a scalar of ``kind`` or a non-empty real array (a sweep
    over the runs axis) whose every element is of ``kind``."""
    def valid(v):
        if kind.valid(v):
            return True
        if isinstance(v, (list, tuple, np.ndarray)):
            try:
                a = np.asarray(v)
            except (TypeError, ValueError):
                return False
            return a.dtype.kind in "iuf" and a.size > 0 and all(kind.valid(float(x)) for x in a.ravel())
        return False
    return Kind(f"{kind.name} or an array of them", valid)


def or_none(kind):
    return Kind(f"{kind.name} or None", lambda v: v is None or kind.valid(v),
                lambda v: v is None or kind.cheap(v), kind.paths)


def either(*kinds):
    """Valid when any of ``kinds`` accepts the value."""
    return Kind(" or ".join(k.name for k in kinds), lambda v: any(k.valid(v) for k in kinds),
                lambda v: all(k.cheap(v) for k in kinds if k.valid(v)), any(k.paths for k in kinds))


def where(kind, extra, name=None):
    """``kind`` narrowed by the predicate ``extra``."""
    return Kind(name or kind.name, lambda v: kind.valid(v) and extra(v), kind.cheap, kind.paths)


CALLABLE = Kind("a function", callable)
STRING = Kind("a non-empty string", lambda v: isinstance(v, str) and v != "")
PATH_REFUSED = Kind("no path: refuse every value", lambda v: False, paths=True)


def choice(*options):
    return Kind(f"one of {options}", lambda v: isinstance(v, str) and v in options)


def hostile_paths(tmp: str) -> list:
    """Paths that must be refused before any work: a folder, '', an int, bytes, a missing folder,
    a read-only folder (skipped as root, who may write anywhere)."""
    readonly = os.path.join(tmp, "readonly")
    os.makedirs(readonly, exist_ok=True)
    os.chmod(readonly, 0o500)
    paths = [tmp, "", "   ", 5, 3.5, b"run.npz", os.path.join(tmp, "missing", "x.npz"), [], {},
             True]
    if os.geteuid() != 0:
        paths.append(os.path.join(readonly, "x.npz"))
    return paths
