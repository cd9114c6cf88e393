"""Numbers that explain a trajectory: curvature, stability thresholds, contraction rates.

Gradient descent on a quadratic with Hessian eigenvalues ``lambda_i`` multiplies the error
along eigen-direction i by ``1 - lr*lambda_i`` per step, so it converges iff
``lr < critical_lr = 2 / lambda_max`` and, above it, the loss grows by ``(1 - lr*lambda_max)^2``
per step -- the seed question's "loss increases every epoch". Heavy-ball momentum replaces
the scalar factor by a 2x2 iteration matrix per direction; Polyak's choice of (lr, beta)
makes its spectral radius ``(sqrt(kappa) - 1)/(sqrt(kappa) + 1)`` instead of GD's best
``(kappa - 1)/(kappa + 1)``.

Everything broadcasts over arrays of learning rates, momenta and eigenvalues (no loops).
The xs/ys regression's own closed forms (its Hessian, the largest n that converges) are in
:mod:`gdsim.studies.xs_ys.stability`.

Spikes in a validation-loss curve (``detect_spikes``, ``spike_summary``) live in
:mod:`gdsim.spikes` and are re-exported here with the other trajectory statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _overflow
from gdsim import _validate
from gdsim.spikes import Spike, detect_spikes, spike_summary

__all__ = ["hessian_eigenvalues", "critical_lr", "gd_growth_factors", "gd_optimal",
           "heavy_ball_iteration_matrix", "heavy_ball_spectral_radius", "polyak_optimal",
           "convergence_rate", "escape_fraction", "Spike", "detect_spikes", "spike_summary"]


def _positive_array(name: str, value: Any) -> np.ndarray:
    raw = _validate.array(name, value)  # first: a ragged list is named, not a NumPy message
    if raw.dtype.kind == "b":  # True is not a learning rate
        raise TypeError(f"{name} must be real numbers > 0, got {_validate.show(value)}")
    arr = _validate.array(name, raw, dtype=np.float64)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got minimum {arr.min()}")
    return arr


def _broadcast(**arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays broadcast together; shapes that do not broadcast are refused, named."""
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {np.shape(a)}" for name, a in arrays.items())
        raise ValueError(f"{' and '.join(arrays)} must broadcast together, got shapes {shapes}") from None


def _scalar_or_array(value: np.ndarray) -> Any:
    return value[()] if value.ndim == 0 else value


def hessian_eigenvalues(problem: Any, x: Any) -> np.ndarray:
    """Eigenvalues of ``problem.hessian(x)``, ascending: points (..., d) -> (..., d)."""
    h = np.asarray(problem.hessian(x), dtype=np.float64)
    return np.linalg.eigvalsh(h)


def critical_lr(lambda_max: Any) -> Any:
    """``2 / lambda_max``: gradient descent converges on a quadratic iff ``lr`` is below it."""
    return _scalar_or_array(2.0 / _positive_array("lambda_max", lambda_max))


def gd_growth_factors(lr: Any, eigenvalues: Any) -> Any:
    """``|1 - lr*lambda|``: the per-step factor of the error along each eigen-direction
    (broadcast of ``lr`` against ``eigenvalues``); > 1 means that direction diverges."""
    lr, lam = _broadcast(lr=_positive_array("lr", lr),
                         eigenvalues=_validate.array("eigenvalues", eigenvalues, dtype=np.float64))
    return _scalar_or_array(np.abs(1.0 - lr * lam))


def gd_optimal(mu: Any, L: Any) -> tuple[Any, Any]:
    """GD's best constant step on a quadratic with eigenvalues in [mu, L]:
    ``lr = 2/(L + mu)``, contraction ``(kappa - 1)/(kappa + 1)`` with ``kappa = L/mu``."""
    mu, L = _check_mu_L(mu, L)
    return _scalar_or_array(2.0 / (L + mu)), _scalar_or_array((L - mu) / (L + mu))


def _check_mu_L(mu: Any, L: Any) -> tuple[np.ndarray, np.ndarray]:
    mu, L = _broadcast(mu=_positive_array("mu", mu), L=_positive_array("L", L))
    if np.any(L < mu):
        raise ValueError(f"L must be >= mu, got L={_validate.show(L)} and mu={_validate.show(mu)}")
    return mu, L


def heavy_ball_iteration_matrix(lr: Any, beta: Any, lam: Any) -> np.ndarray:
    r"""The 2x2 matrix of heavy ball on ``f = lam/2 x^2``: ``(x_{k+1}, x_k) = M (x_k, x_{k-1})``,
    ``M = [[1 + beta - lr*lam, -beta], [1, 0]]``; broadcast shapes + (2, 2).

    Keras's ``SGD(momentum=beta)`` (``v <- beta*v - lr*g; w <- w + v``) is this recurrence."""
    lr, beta, lam = _broadcast(lr=_validate.array("lr", lr, dtype=np.float64),
                               beta=_validate.array("beta", beta, dtype=np.float64),
                               lam=_validate.array("lam", lam, dtype=np.float64))
    out = np.zeros(lr.shape + (2, 2))
    out[..., 0, 0] = 1 + beta - lr * lam
    out[..., 0, 1] = -beta
    out[..., 1, 0] = 1
    return out


def heavy_ball_spectral_radius(lr: Any, beta: Any, lam: Any) -> Any:
    """Spectral radius of :func:`heavy_ball_iteration_matrix`: the largest ``|z|`` with
    ``z^2 - (1 + beta - lr*lam) z + beta = 0`` (``sqrt(beta)`` when the roots are complex).
    Below 1 the iteration converges; its value is the asymptotic rate per step."""
    lr, beta, lam = _broadcast(lr=_validate.array("lr", lr, dtype=np.float64),
                               beta=_validate.array("beta", beta, dtype=np.float64),
                               lam=_validate.array("lam", lam, dtype=np.float64))
    a = 1 + beta - lr * lam
    disc = a * a - 4 * beta
    root = np.sqrt(np.abs(disc))
    real = np.maximum(np.abs(a + root), np.abs(a - root)) / 2
    return _scalar_or_array(np.where(disc >= 0, real, np.sqrt(np.abs(beta))))


def polyak_optimal(mu: Any, L: Any) -> tuple[Any, Any]:
    """Polyak's heavy-ball parameters for eigenvalues in [mu, L]:
    ``lr = 4/(sqrt(L) + sqrt(mu))^2``, ``beta = ((sqrt(L) - sqrt(mu))/(sqrt(L) + sqrt(mu)))^2``;
    the rate is then ``(sqrt(kappa) - 1)/(sqrt(kappa) + 1)``."""
    mu, L = _check_mu_L(mu, L)
    s, t = np.sqrt(L), np.sqrt(mu)
    return _scalar_or_array(4.0 / (s + t) ** 2), _scalar_or_array(((s - t) / (s + t)) ** 2)


def convergence_rate(values: Any, start: int, stop: int) -> Any:
    """Geometric rate per step between two indices: ``(|v[stop]| / |v[start]|)^(1/(stop-start))``
    along the first axis (e.g. error norms of a trajectory); (...) for values (T, ...)."""
    v = np.abs(_validate.array("values", values, dtype=np.float64, require_finite=False))
    if v.ndim == 0:
        raise ValueError(f"values must have a steps axis (T, ...), got a scalar {_validate.show(values)}")
    start = _validate.integer("start", start, minimum=0)
    stop = _validate.integer("stop", stop, minimum=1)
    if stop <= start:
        raise ValueError(f"start must be < stop, got start={start} and stop={stop}")
    if stop >= v.shape[0]:
        raise ValueError(f"stop must be < len(values) = {v.shape[0]}, got {stop}")
    with _overflow.overflow_is_data():
        return _scalar_or_array((v[stop] / v[start]) ** (1.0 / (stop - start)))


def _runs_axis(axis: Any, runs_ndim: int) -> Any:
    """None, an int or a tuple of ints, each a runs axis in [-runs_ndim, runs_ndim)."""
    if axis is None:
        return None
    axes = list(axis) if isinstance(axis, tuple) else [axis]
    for a in axes:
        a = _validate.integer("axis", a)
        if not -runs_ndim <= a < runs_ndim:
            raise ValueError(f"axis must be a runs axis in [{-runs_ndim}, {runs_ndim}), got {a}")
    return axis


def escape_fraction(final_points: Any, minima: Any, start_index: int = 0, axis: Any = None) -> Any:
    """Fraction of runs that left the basin they started in: runs whose final point is nearest
    (Euclidean) to a minimum other than ``minima[start_index]``, or not finite (diverged).

    final_points (*runs, d), minima (k, d); ``axis`` (None = all runs) selects the runs axes
    averaged over, so a (noise scale x lr) grid with ``axis=-1`` over seeds gives a map."""
    x = _validate.array("final_points", final_points, dtype=np.float64, require_finite=False)
    if x.ndim == 0:
        raise ValueError(f"final_points must have shape (*runs, d), got a scalar {_validate.show(final_points)}")
    m = _validate.array("minima", minima, dtype=np.float64, ndim=2)
    if m.shape[1] != x.shape[-1]:
        raise ValueError(f"minima must have shape (k, d) with d = final_points.shape[-1] = "
                         f"{x.shape[-1]}, got minima {m.shape}")
    axis = _runs_axis(axis, x.ndim - 1)
    start_index = _validate.integer("start_index", start_index, minimum=0)
    if start_index >= m.shape[0]:
        raise ValueError(f"start_index must be < {m.shape[0]}, got {start_index}")
    best = np.full(x.shape[:-1], -1)
    best_d = np.full(x.shape[:-1], np.inf)
    for i, point in enumerate(m):
        diff = x - point
        d = np.sum(diff * diff, axis=-1)
        closer = d < best_d
        best = np.where(closer, i, best)
        best_d = np.where(closer, d, best_d)
    left = best != start_index
    return _scalar_or_array(np.mean(left, axis=axis))
