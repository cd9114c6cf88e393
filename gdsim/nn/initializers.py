"""Weight initializers (Keras 3 names and formulas), drawing from an explicit NumPy Generator.

Every initializer is called as ``init(shape, dtype, rng) -> ndarray``. Random draws are made
in float64 and cast to ``dtype``: Keras draws with the backend RNG, which NumPy cannot
reproduce, so only the *distribution* matches Keras (set weights explicitly to compare runs).

Fans follow ``keras.src.initializers.random_initializers.compute_fans``: a rank-2 shape
``(in, out)`` has ``fan_in = in, fan_out = out``; a conv kernel ``(kh, kw, in, out)`` has
``fan_in = kh*kw*in, fan_out = kh*kw*out``; rank 1 ``(n,)`` has both ``= n``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from gdsim import _validate

# Keras's truncated normal cuts at 2 standard deviations; this is the std of N(0,1)
# truncated to [-2, 2], used to keep the variance of the truncated draw at the target.
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras's ``compute_fans``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng: np.random.Generator, std: float, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, std^2) restricted to [-2 std, 2 std], by redrawing the rejects (a loop over rounds)."""
    values = rng.standard_normal(shape)
    bad = np.abs(values) > 2
    while bad.any():
        values[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2
    return values * std


def _generator(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator for a random initializer, got "
                        f"{type(rng).__name__}")
    return rng


class Initializer:
    """Base class: ``__call__(shape, dtype, rng)`` returns a new array of ``shape`` in ``dtype``."""

    name = "initializer"

    def __call__(self, shape: Sequence[int], dtype: np.dtype | str, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (``keras.initializers.Zeros``; Keras's default bias and BN beta/moving_mean)."""

    name = "zeros"

    def __call__(self, shape, dtype, rng=None):
        return np.zeros(tuple(shape), dtype=_validate.float_dtype("dtype", dtype))


class Ones(Initializer):
    """All ones (``keras.initializers.Ones``; BN gamma and moving_variance)."""

    name = "ones"

    def __call__(self, shape, dtype, rng=None):
        return np.ones(tuple(shape), dtype=_validate.float_dtype("dtype", dtype))


class Constant(Initializer):
    """Every entry equal to ``value`` (``keras.initializers.Constant``)."""

    name = "constant"

    def __init__(self, value: float = 0.0):
        self.value = _validate.finite("value", value)

    def __call__(self, shape, dtype, rng=None):
        return np.full(tuple(shape), self.value, dtype=_validate.float_dtype("dtype", dtype))

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """``U(minval, maxval)`` (``keras.initializers.RandomUniform``, defaults -0.05, 0.05)."""

    name = "random_uniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval = _validate.finite("minval", minval)
        self.maxval = _validate.finite("maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(f"maxval must be >= minval, got minval={minval}, maxval={maxval}")

    def __call__(self, shape, dtype, rng):
        dtype = _validate.float_dtype("dtype", dtype)
        return _generator(rng).uniform(self.minval, self.maxval, tuple(shape)).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    """``N(mean, stddev^2)`` (``keras.initializers.RandomNormal``, defaults 0, 0.05)."""

    name = "random_normal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean = _validate.finite("mean", mean)
        self.stddev = _validate.nonnegative("stddev", stddev)

    def __call__(self, shape, dtype, rng):
        dtype = _validate.float_dtype("dtype", dtype)
        return (self.mean + self.stddev * _generator(rng).standard_normal(tuple(shape))).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """``keras.initializers.VarianceScaling``: variance ``scale / n`` with ``n`` = fan_in,
    fan_out or their average (``mode``).

    - ``"uniform"``: ``U(-L, L)``, ``L = sqrt(3 * scale / n)``;
    - ``"truncated_normal"``: normal with std ``sqrt(scale / n) / 0.8796...`` cut at 2 std;
    - ``"untruncated_normal"``: ``N(0, scale / n)``.
    """

    name = "variance_scaling"

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"):
        self.scale = _validate.positive("scale", scale)
        self.mode = _validate.choice("mode", mode, ["fan_in", "fan_out", "fan_avg"])
        self.distribution = _validate.choice(
            "distribution", distribution, ["uniform", "truncated_normal", "untruncated_normal"])

    def limit_or_std(self, shape: Sequence[int]) -> float:
        """The uniform limit ``L`` or the normal std the draw will use for ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            return math.sqrt(3.0 * variance)
        if self.distribution == "truncated_normal":
            return math.sqrt(variance) / _TRUNCATED_STD
        return math.sqrt(variance)

    def __call__(self, shape, dtype, rng):
        dtype = _validate.float_dtype("dtype", dtype)
        shape = tuple(shape)
        rng = _generator(rng)
        spread = self.limit_or_std(shape)
        if self.distribution == "uniform":
            values = rng.uniform(-spread, spread, shape)
        elif self.distribution == "truncated_normal":
            values = _truncated_normal(rng, spread, shape)
        else:
            values = spread * rng.standard_normal(shape)
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    """``U(-L, L)`` with ``L = sqrt(6 / (fan_in + fan_out))`` (Keras's default kernel init).

    Conv(16, 3x3) on 3 channels: ``L = sqrt(6 / (27 + 144)) = 0.18732``; Dense(1) on 1 input:
    ``L = sqrt(3)``.
    """

    name = "glorot_uniform"

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    """Truncated normal, std ``sqrt(2 / (fan_in + fan_out)) / 0.8796...``."""

    name = "glorot_normal"

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    """``U(-L, L)`` with ``L = sqrt(6 / fan_in)``."""

    name = "he_uniform"

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    """Truncated normal, std ``sqrt(2 / fan_in) / 0.8796...``."""

    name = "he_normal"

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class LecunNormal(VarianceScaling):
    """Truncated normal, std ``sqrt(1 / fan_in) / 0.8796...``."""

    name = "lecun_normal"

    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


_BY_NAME: dict[str, Callable[[], Initializer]] = {
    cls.name: cls for cls in (Zeros, Ones, Constant, RandomUniform, RandomNormal, VarianceScaling,
                              GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunNormal)
}


def get(identifier: str | Initializer, name: str = "initializer") -> Initializer:
    """An initializer from its Keras name (``"glorot_uniform"``, ``"zeros"``, ``"ones"``,
    ``"he_normal"``, ...) or an :class:`Initializer` instance (returned as is). ``name`` is
    the argument an error names (a layer's ``kernel_initializer``)."""
    if isinstance(identifier, Initializer):
        return identifier
    return _BY_NAME[_validate.choice(name, identifier, _BY_NAME)]()
