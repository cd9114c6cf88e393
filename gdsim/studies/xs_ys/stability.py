"""Why full-batch gradient descent on the xs/ys regression diverges: its Hessian, in closed form.

The loss ``mean((w*x + b - y)^2)`` is a quadratic in ``(w, b)`` with the constant Hessian
``H = 2*[[mean x^2, mean x], [mean x, 1]]``. Gradient descent multiplies the error along H's
top eigenvector by ``1 - lr*lambda_max`` per step (:func:`gdsim.analysis.gd_growth_factors`),
so it converges iff ``lr < 2/lambda_max`` (:func:`gdsim.analysis.critical_lr`) and otherwise
the loss grows by ``(1 - lr*lambda_max)^2`` per epoch. For xs = 1..n, ``lambda_max`` grows
like ``2n^2/3``: more points, a lower critical learning rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate

__all__ = ["regression_hessian", "regression_stability", "max_converging_n"]


def regression_hessian(xs: Any) -> np.ndarray:
    """Hessian of ``mean((w*x + b - y)^2)`` in ``(w, b)``: ``2*[[mean x^2, mean x], [mean x, 1]]``."""
    xs = _validate.array("xs", xs, dtype=np.float64, ndim=1)
    m1, m2 = xs.mean(), np.mean(xs * xs)
    return 2 * np.array([[m2, m1], [m1, 1.0]])


def _symmetric_2x2_eigenvalues(a: Any, b: Any, c: Any) -> tuple[Any, Any]:
    """(lambda_max, lambda_min) of ``[[a, b], [b, c]]``, elementwise over arrays."""
    mid, rad = (a + c) / 2, np.hypot((a - c) / 2, b)
    # lambda_min via the determinant: no cancellation when it is tiny
    return mid + rad, (a * c - b * b) / (mid + rad)


def regression_stability(xs: Any, lr: Any) -> dict[str, Any]:
    """Why full-batch GD on 1-D least squares diverges (seed question 001).

    Returns ``lambda_max``, ``lambda_min`` (of :func:`regression_hessian`), ``critical_lr`` =
    2/lambda_max, ``loss_ratio`` = ``(1 - lr*lambda_max)^2`` (asymptotic loss factor per
    step: > 1 means the loss grows every epoch) and ``converges`` (``|1 - lr*lambda_max| < 1``).
    ``lr`` may be an array; ``loss_ratio`` and ``converges`` then have its shape.
    Seed: xs = 1..20, lr = 0.01 -> lambda_max = 288.54, critical_lr = 0.00693, loss_ratio 3.5547
    (the seed printed 13164500484096 / 3703408164864 = 3.5547 for epochs 20/19).
    """
    h = regression_hessian(xs)
    lam_max, lam_min = (float(v) for v in _symmetric_2x2_eigenvalues(h[0, 0], h[0, 1], h[1, 1]))
    if np.asarray(lr).dtype.kind == "b":  # True is not a learning rate
        raise TypeError(f"lr must be real numbers > 0, got {_validate.show(lr)}")
    lr = _validate.array("lr", lr, dtype=np.float64)
    if np.any(lr <= 0):
        raise ValueError(f"lr must be > 0, got minimum {lr.min()}")
    factor = 1 - lr * lam_max
    return {"lambda_max": lam_max, "lambda_min": lam_min, "critical_lr": 2 / lam_max,
            "loss_ratio": float(factor * factor) if lr.ndim == 0 else factor * factor,
            "converges": bool(np.abs(factor) < 1) if lr.ndim == 0 else np.abs(factor) < 1}


def max_converging_n(lr: Any, n_max: int = 10_000) -> int:
    """Largest n such that full-batch GD at ``lr`` converges on xs = 1..n (and on every
    smaller n); 0 if even n = 1 diverges. ``n_max`` bounds the search (returned if all
    converge). lambda_max grows like 2n^2/3, so the answer shrinks like sqrt(3/lr)."""
    lr = _validate.positive("lr", lr)
    n_max = _validate.integer("n_max", n_max, minimum=1)
    _validate.memory("n_max", 96 * n_max, f"a search over {_validate.count(n_max)} values of n")
    n = np.arange(1, n_max + 1, dtype=np.float64)
    m1 = (n + 1) / 2                       # mean of 1..n
    m2 = (n + 1) * (2 * n + 1) / 6         # mean of squares of 1..n
    lam_max, _ = _symmetric_2x2_eigenvalues(2 * m2, 2 * m1, 2.0)  # regression_hessian's entries
    converges = np.abs(1 - lr * lam_max) < 1
    if converges.all():
        return n_max
    return int(np.argmin(converges))  # index of the first failure = number of converging n
