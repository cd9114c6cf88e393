"""Learning-rate schedules: ``lr(step)`` for an int or an int array of steps (vectorized).

Each schedule is the Keras 3 one of the same name (``keras.optimizers.schedules``), with the
same floating-point operations. Keras evaluates schedules in ``floatx`` (float32); here
``schedule(step)`` computes in float64 and ``schedule.evaluate(step, dtype="float32")``
reproduces Keras's float32 values. An optimizer given a schedule calls ``evaluate`` with the
parameter dtype at the *current* ``iterations`` (0 for the first step), as Keras does.

``initial_learning_rate`` may be an array (a sweep over runs); the result then broadcasts
``step`` against it. Rates may be 0 wherever Keras allows it (a warm-up from 0, a decay to 0).

**A plain callable learning rate.** Keras calls a callable that is not a
``LearningRateSchedule`` with *no* arguments (``learning_rate=lambda: 0.01``, typically a
closure over a variable the user changes); gdsim's optimizers call a plain callable with the
number of completed steps, ``f(iterations)``. :func:`from_callable` accepts either form and
returns a :class:`Schedule`: ``optim.SGD(schedules.from_callable(lambda: 0.01))`` is Keras's
form, ``from_callable(lambda t: 0.1 / (1 + t))`` gdsim's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from gdsim import _validate

__all__ = ["Schedule", "Constant", "constant", "ExponentialDecay", "InverseTimeDecay",
           "legacy_decay", "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecay",
           "CosineDecayRestarts", "FromCallable", "from_callable"]


def _steps(step: Any) -> np.ndarray:
    if isinstance(step, (str, bytes, bytearray, memoryview)):  # np.asarray(b"1") is uint8
        raise TypeError(f"step must be an integer or an integer array, got {_validate.show(step)}")
    arr = np.asarray(step)
    if arr.dtype.kind not in "iu":  # not bool, float, or timedelta (NumPy calls it an integer)
        raise TypeError(f"step must be an integer or an integer array, got {_validate.show(step)} of dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"step must be >= 0, got minimum {arr.min()}")
    return arr


def _rates(name: str, value: Any) -> float | np.ndarray:
    """A learning rate (or an array of them, one per run): finite and >= 0, as Keras allows."""
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        return _validate.nonnegative(name, value)
    arr = _validate.array(name, value, dtype=np.float64)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got minimum {arr.min()}")
    return arr


def _out(value: np.ndarray) -> Any:
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value


class Schedule:
    """Base class: ``schedule(step)`` (float64) and ``schedule.evaluate(step, dtype)``."""

    def evaluate(self, step: Any, dtype: Any = np.float64) -> Any:
        """The learning rate after ``step`` completed steps, computed in ``dtype``."""
        steps = _steps(step)
        # Always at least 1-d: NumPy's scalar math (np.power on a 0-d value) can differ in the
        # last bit from the array loop, and schedule(t) must equal schedule([t])[0].
        value = self._compute(np.atleast_1d(steps), _validate.float_dtype("dtype", dtype))
        rates = getattr(self, "initial_learning_rate", getattr(self, "learning_rate", 0.0))
        return _out(value.reshape(np.broadcast_shapes(steps.shape, np.shape(rates))))

    def __call__(self, step: Any) -> Any:
        return self.evaluate(step, np.float64)

    def _compute(self, step: np.ndarray, dtype: np.dtype) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Schedule":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``lr(step) = learning_rate``."""

    def __init__(self, learning_rate: Any) -> None:
        self.learning_rate = _rates("learning_rate", learning_rate)

    def _compute(self, step, dtype):
        lr = np.asarray(self.learning_rate, dtype=dtype)
        return np.broadcast_to(lr, np.broadcast_shapes(step.shape, lr.shape)).copy()

    def get_config(self):
        return {"learning_rate": self.learning_rate}


def constant(learning_rate: Any) -> Constant:
    """A schedule that always returns ``learning_rate``."""
    return Constant(learning_rate)


class ExponentialDecay(Schedule):
    """Keras ``ExponentialDecay``: ``lr0 * decay_rate ** (step / decay_steps)``; with
    ``staircase=True`` the exponent is ``floor(step / decay_steps)``."""

    def __init__(self, initial_learning_rate: Any, decay_steps: Any, decay_rate: Any,
                 staircase: bool = False) -> None:
        self.initial_learning_rate = _rates("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _validate.positive("decay_steps", decay_steps)
        self.decay_rate = _validate.positive("decay_rate", decay_rate)
        self.staircase = _validate.boolean("staircase", staircase)

    def _compute(self, step, dtype):
        p = step.astype(dtype) / dtype.type(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return np.asarray(self.initial_learning_rate, dtype=dtype) * np.power(dtype.type(self.decay_rate), p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class InverseTimeDecay(Schedule):
    """Keras ``InverseTimeDecay``: ``lr0 / (1 + decay_rate * step / decay_steps)`` (floor of
    ``step / decay_steps`` with ``staircase=True``). ``InverseTimeDecay(lr, 1, d)`` is what
    Keras 2's optimizer argument ``decay=d`` did: ``lr / (1 + d*iterations)``."""

    def __init__(self, initial_learning_rate: Any, decay_steps: Any, decay_rate: Any,
                 staircase: bool = False) -> None:
        self.initial_learning_rate = _rates("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _validate.positive("decay_steps", decay_steps)
        self.decay_rate = _validate.nonnegative("decay_rate", decay_rate)
        self.staircase = _validate.boolean("staircase", staircase)

    def _compute(self, step, dtype):
        p = step.astype(dtype) / dtype.type(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return np.asarray(self.initial_learning_rate, dtype=dtype) / (dtype.type(1) + dtype.type(self.decay_rate) * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


def legacy_decay(learning_rate: Any, decay: Any) -> InverseTimeDecay:
    """The old Keras (2.x) ``decay=`` optimizer argument, which Keras 3 ignores with a warning:
    ``lr_t = learning_rate / (1 + decay * t)`` with ``t`` = completed steps."""
    return InverseTimeDecay(learning_rate, 1, decay)


class PiecewiseConstantDecay(Schedule):
    """Keras ``PiecewiseConstantDecay``: ``values[0]`` while ``step <= boundaries[0]``,
    ``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the
    last boundary. ``len(values) == len(boundaries) + 1``; boundaries strictly increasing ints."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        boundaries = [_validate.integer(f"boundaries[{i}]", b) for i, b in
                      enumerate(_validate.sequence("boundaries", boundaries, "integer steps"))]
        values = [_validate.nonnegative(f"values[{i}]", v) for i, v in
                  enumerate(_validate.sequence("values", values, "learning rates"))]
        if not boundaries:
            raise ValueError("boundaries must not be empty")
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"values must have len(boundaries) + 1 = {len(boundaries) + 1} entries, "
                             f"got {len(values)}")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
        self.boundaries = boundaries
        self.values = values

    def _compute(self, step, dtype):
        index = np.searchsorted(np.asarray(self.boundaries), step, side="left")
        return np.asarray(self.values, dtype=dtype)[index]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class CosineDecay(Schedule):
    """Keras ``CosineDecay`` (optional linear warmup).

    Without warmup: ``s = min(step, decay_steps)``,
    ``lr = lr0 * ((1 - alpha) * 0.5*(1 + cos(pi*s/decay_steps)) + alpha)``.
    With ``warmup_target``: for ``step < warmup_steps`` the rate rises linearly from ``lr0``
    to ``warmup_target``, then decays from ``warmup_target`` as above over ``decay_steps``.
    A warm-up from ``lr0 = 0`` is Keras's own documented example::

        CosineDecay(0.0, decay_steps=1000, warmup_target=0.1, warmup_steps=100)
    """

    def __init__(self, initial_learning_rate: Any, decay_steps: Any, alpha: Any = 0.0,
                 warmup_target: Any = None, warmup_steps: Any = 0) -> None:
        self.initial_learning_rate = _rates("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _validate.positive("decay_steps", decay_steps)
        self.alpha = _validate.in_range("alpha", alpha, 0.0, 1.0, high_open=False)
        self.warmup_target = (None if warmup_target is None
                              else _validate.nonnegative("warmup_target", warmup_target))
        self.warmup_steps = _validate.nonnegative("warmup_steps", warmup_steps)
        if self.warmup_target is not None and self.warmup_steps == 0:
            raise ValueError("warmup_steps must be > 0 when warmup_target is given")

    def _decay(self, s, decay_steps, start, dtype):
        completed = s / decay_steps
        cosine = dtype.type(0.5) * (dtype.type(1) + np.cos(dtype.type(math.pi) * completed))
        return start * (dtype.type(1 - self.alpha) * cosine + dtype.type(self.alpha))

    def _compute(self, step, dtype):
        lr0 = np.asarray(self.initial_learning_rate, dtype=dtype)
        decay_steps = dtype.type(self.decay_steps)
        s = step.astype(dtype)
        if self.warmup_target is None:
            return self._decay(np.minimum(s, decay_steps), decay_steps, lr0, dtype)
        target = dtype.type(self.warmup_target)
        warmup = dtype.type(self.warmup_steps)
        s = np.minimum(s, decay_steps + warmup)
        rising = (target - lr0) * (s / warmup) + lr0
        falling = self._decay(s - warmup, decay_steps, target, dtype)
        return np.where(s < warmup, rising, falling)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PolynomialDecay(Schedule):
    r"""Keras ``PolynomialDecay``: from ``lr0`` down to ``end_learning_rate`` along a power.

    ``s = min(step, decay_steps)``, ``p = s / decay_steps``,
    ``lr = (lr0 - end_learning_rate) * (1 - p)**power + end_learning_rate``:

    .. math::

        \eta_t = (\eta_0 - \eta_\text{end})
                 \left(1 - \frac{\min(t, T)}{T}\right)^{p} + \eta_\text{end}

    With ``cycle=True`` the decay restarts: ``decay_steps`` is multiplied by
    ``ceil(step / decay_steps)`` (1 at step 0) instead of clipping ``step``.
    """

    def __init__(self, initial_learning_rate: Any, decay_steps: Any,
                 end_learning_rate: Any = 0.0001, power: Any = 1.0, cycle: bool = False) -> None:
        self.initial_learning_rate = _rates("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _validate.positive("decay_steps", decay_steps)
        self.end_learning_rate = _validate.nonnegative("end_learning_rate", end_learning_rate)
        self.power = _validate.positive("power", power)
        self.cycle = _validate.boolean("cycle", cycle)

    def _compute(self, step, dtype):
        lr0 = np.asarray(self.initial_learning_rate, dtype=dtype)
        end = dtype.type(self.end_learning_rate)
        s = step.astype(dtype)
        decay_steps = dtype.type(self.decay_steps)
        if self.cycle:
            multiplier = np.where(s == 0, dtype.type(1), np.ceil(s / decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            s = np.minimum(s, decay_steps)
        p = s / decay_steps
        return (lr0 - end) * np.power(dtype.type(1) - p, dtype.type(self.power)) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle}


class CosineDecayRestarts(Schedule):
    r"""Keras ``CosineDecayRestarts`` (SGDR, Loshchilov & Hutter 2017): cosine decays that
    restart, each ``t_mul`` times longer and starting ``m_mul`` times lower than the last.

    With ``c = step / first_decay_steps``, the restart index ``i`` and the fraction ``f`` of the
    current period are ``i = floor(c)``, ``f = c - i`` when ``t_mul == 1``, else
    ``i = floor(log(1 - c*(1 - t_mul)) / log(t_mul))``,
    ``f = (c - (1 - t_mul**i)/(1 - t_mul)) / t_mul**i``; then
    ``lr = lr0 * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi*f)) + alpha)``:

    .. math::

        \eta_t = \eta_0 \left((1 - \alpha)\, \tfrac12\, m^{i} (1 + \cos \pi f) + \alpha\right)
    """

    def __init__(self, initial_learning_rate: Any, first_decay_steps: Any, t_mul: Any = 2.0,
                 m_mul: Any = 1.0, alpha: Any = 0.0) -> None:
        self.initial_learning_rate = _rates("initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _validate.positive("first_decay_steps", first_decay_steps)
        self.t_mul = _validate.positive("t_mul", t_mul)
        self.m_mul = _validate.nonnegative("m_mul", m_mul)
        self.alpha = _validate.in_range("alpha", alpha, 0.0, 1.0, high_open=False)

    def _compute(self, step, dtype):
        one = dtype.type(1)
        t_mul, m_mul, alpha = dtype.type(self.t_mul), dtype.type(self.m_mul), dtype.type(self.alpha)
        completed = step.astype(dtype) / dtype.type(self.first_decay_steps)
        if self.t_mul == 1.0:
            restart = np.floor(completed)
            completed = completed - restart
        else:
            restart = np.floor(np.log(one - completed * (one - t_mul)) / np.log(t_mul))
            done_before = (one - np.power(t_mul, restart)) / (one - t_mul)
            completed = (completed - done_before) / np.power(t_mul, restart)
        cosine = dtype.type(0.5) * np.power(m_mul, restart) * (
            one + np.cos(dtype.type(math.pi) * completed))
        return np.asarray(self.initial_learning_rate, dtype=dtype) * ((one - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha}


class FromCallable(Schedule):
    """A plain function as a schedule, in Keras's form ``f()`` or gdsim's ``f(step)``.

    Keras calls a callable learning rate with no arguments; gdsim's form takes the completed
    steps (an optimizer accepts either). Which form ``fn`` has is read from its signature once
    (:func:`gdsim._validate.takes_step`): a function that can be called with one positional
    argument gets the step. The value is broadcast over the steps asked for and cast to the
    dtype.
    """

    def __init__(self, fn: Any) -> None:
        if not callable(fn) or isinstance(fn, type):  # float(step) is no schedule, only a cast
            raise TypeError(f"fn must be callable (a function, not a type), got {_validate.show(fn)}")
        self.fn = fn
        self.takes_step = _validate.takes_step("fn", fn)

    def evaluate(self, step: Any, dtype: Any = np.float64) -> Any:
        steps = _steps(step)
        dtype = _validate.float_dtype("dtype", dtype)
        value = np.asarray(self.fn(step) if self.takes_step else self.fn(), dtype=dtype)
        if not self.takes_step:
            value = np.broadcast_to(value, np.broadcast_shapes(steps.shape, value.shape)).copy()
        return _out(value)

    def get_config(self):
        return {"fn": self.fn}


def from_callable(fn: Any) -> FromCallable:
    """``fn`` (``f()`` as Keras calls it, or ``f(step)``) as a :class:`Schedule`."""
    return FromCallable(fn)
