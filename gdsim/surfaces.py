"""Toy loss surfaces with hand-written value, gradient and Hessian.

Every surface maps points of shape ``(..., d)`` to

* ``value(x)``   -> ``(...)``
* ``grad(x)``    -> ``(..., d)``
* ``hessian(x)`` -> ``(..., d, d)``

in float64, or in float32 when the points are float32 (any other input dtype is
computed in float64). Non-finite points are allowed (a diverged run is data, not an
error); they give inf/NaN values and NumPy's usual overflow warnings, which callers
such as the simulator silence (:func:`gdsim._overflow.overflow_is_data`).

Bit-reproducibility. A simulator evaluates 10,000 runs in one call; a lecturer
re-runs one of them alone. Both must agree bit for bit, so nothing here lets the
result for one point depend on how many points share the call: only elementwise
ufuncs (``+ - * /``, ``cos``, ``sin``) and sums along the last axis written as an
explicit left-to-right loop over the ``d`` coordinates (never ``@``/BLAS, whose
blocking changes with the batch size, nor ``np.sum``, whose pairwise order changes
with the memory layout). Powers are written as products, because ``x**4`` on a
NumPy scalar goes through ``pow`` while on an array it does not.

Known minima. ``minima`` lists every known local minimum, global minimum first
(all global minima first when there are ties; ``global_mask`` flags them). Minima
that are not closed-form are polished at construction by Newton's method in float64
from published approximations and verified (gradient ~ 0, Hessian positive definite).

Use :func:`get` to build a surface by name and :func:`names` to list them::

    >>> from gdsim import surfaces
    >>> s = surfaces.get("rosenbrock")
    >>> s.value([1.0, 1.0])
    array(0.)
    >>> s.grad([[0.0, 0.0], [-1.0, 1.0]])
    array([[-2.,  0.],
           [-4.,  0.]])
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Sequence

import numpy as np

from gdsim import _validate

__all__ = [
    "Surface", "Quadratic", "Rosenbrock", "Beale", "Himmelblau", "Rastrigin", "DoubleWell",
    "Saddle", "SixHumpCamel", "StyblinskiTang", "get", "names", "MAX_LISTED_MINIMA",
]

#: Separable surfaces (Rastrigin, Styblinski-Tang) have a product lattice of local minima
#: (11**d and 2**d). They are all listed while the lattice has at most this many points;
#: above it only the global minimum and its nearest neighbours on the lattice are listed.
MAX_LISTED_MINIMA = 20_000


# ---------------------------------------------------------------------------------------
# batch-invariant building blocks


def _sum_last(terms: np.ndarray) -> np.ndarray:
    """``sum(terms, axis=-1)`` added strictly left to right, whatever the batch layout."""
    total = terms[..., 0]
    for i in range(1, terms.shape[-1]):
        total = total + terms[..., i]
    return np.asarray(total)


def _matvec(matrix: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``matrix @ r`` for every point ``r`` of shape (..., d), as elementwise multiply-adds."""
    columns = np.ascontiguousarray(matrix.T)
    out = columns[0] * r[..., 0:1]
    term = np.empty_like(out)
    for j in range(1, matrix.shape[1]):
        np.multiply(columns[j], r[..., j:j + 1], out=term)
        out += term
    return out


class Surface:
    """A loss surface ``f: R^d -> R`` with analytic value, gradient and Hessian.

    Attributes
    ----------
    name : str
        Registry name (``get(name)`` builds it).
    dim : int
        The dimension ``d``; points have shape ``(..., d)``.
    params : dict
        The constructor arguments, with defaults filled in:
        ``get(s.name, **s.params)`` rebuilds ``s``.
    minima : ndarray (k, d)
        Every known local minimum, sorted by value (so global minima first;
        ``global_mask`` flags the ones tied, to 1e-10 relative, with the lowest).
    global_minimum : ndarray (d,)
        ``minima[0]``.
    global_min_value : float
        ``value(global_minimum)``.
    box : (ndarray (d,), ndarray (d,))
        ``(lo, hi)``, a plotting box that contains the interesting features.
    saddle_points : ndarray (m, d)
        Known saddle points / barrier tops (may be empty).
    """

    name: str = ""

    def __init__(self, dim: int, params: dict[str, Any]) -> None:
        self.dim = dim
        self.params = params
        self._minima = np.zeros((0, dim))
        self._global_mask = np.zeros(0, dtype=bool)
        self._saddle_points = np.zeros((0, dim))
        self._lo = np.full(dim, -1.0)
        self._hi = np.full(dim, 1.0)

    # ----- the three analytic maps -------------------------------------------------------
    def value(self, x: Any) -> np.ndarray:
        """``f(x)``: points (..., d) -> values (...)."""
        x, dtype = self._points(x)
        return np.asarray(self._value(x), dtype=dtype)

    def grad(self, x: Any) -> np.ndarray:
        """``grad f(x)``: points (..., d) -> gradients (..., d)."""
        x, dtype = self._points(x)
        return np.asarray(self._grad(x), dtype=dtype)

    def hessian(self, x: Any) -> np.ndarray:
        """``Hessian f(x)``: points (..., d) -> symmetric matrices (..., d, d)."""
        x, dtype = self._points(x)
        return np.asarray(self._hessian(x), dtype=dtype)

    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _hessian(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ----- known features ----------------------------------------------------------------
    @property
    def minima(self) -> np.ndarray:
        return self._minima.copy()

    @property
    def global_mask(self) -> np.ndarray:
        """Boolean (k,): which entries of ``minima`` are global minima."""
        return self._global_mask.copy()

    @property
    def global_minimum(self) -> np.ndarray:
        return self._minima[0].copy()

    @property
    def global_min_value(self) -> float:
        return float(self.value(self._minima[0]))

    @property
    def saddle_points(self) -> np.ndarray:
        return self._saddle_points.copy()

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        return self._lo.copy(), self._hi.copy()

    def nearest_minimum(self, x: Any) -> np.ndarray:
        """Index into ``minima`` of the minimum closest (Euclidean) to each point.

        points (..., d) -> int64 indices (...). Points with a non-finite coordinate
        (diverged runs) get ``-1``. Exact ties go to the lower index.
        """
        x, _ = self._points(x)
        x = x.astype(np.float64)
        best = np.zeros(x.shape[:-1], dtype=np.int64)
        best_distance = np.full(x.shape[:-1], np.inf)
        for index, minimum in enumerate(self._minima):
            diff = x - minimum
            distance = _sum_last(diff * diff)
            closer = distance < best_distance
            best = np.where(closer, index, best)
            best_distance = np.where(closer, distance, best_distance)
        return self._flag_nonfinite(x, best)

    # ----- helpers -----------------------------------------------------------------------
    def _points(self, x: Any) -> tuple[np.ndarray, np.dtype]:
        points = _validate.array("x", x, require_finite=False, allow_empty=True)
        if np.iscomplexobj(points):
            raise TypeError(f"x must be real, got dtype {points.dtype}")
        expected = f"(..., {self.dim})"
        if points.ndim == 0 or points.shape[-1] != self.dim:
            raise ValueError(f"x must have shape {expected} for the {self.dim}-D surface "
                             f"{self.name!r}, got shape {points.shape}")
        dtype = np.dtype(np.float32) if points.dtype == np.float32 else np.dtype(np.float64)
        return points.astype(dtype, copy=False), dtype

    @staticmethod
    def _flag_nonfinite(x: np.ndarray, index: np.ndarray) -> np.ndarray:
        finite = np.isfinite(x).all(axis=-1)
        return np.asarray(np.where(finite, index, -1), dtype=np.int64)

    def _set_minima(self, candidates: Sequence[Sequence[float]], *, polish: bool = True) -> None:
        """Polish candidate minima by Newton, verify them, drop duplicates, put globals first."""
        found: list[np.ndarray] = []
        for start in candidates:
            point = _newton(self, np.asarray(start, dtype=np.float64)) if polish else \
                np.asarray(start, dtype=np.float64)
            if point is None or any(np.max(np.abs(point - p)) < 1e-6 for p in found):
                continue
            found.append(point)
        if not found:
            raise ValueError(f"{self.name}: no minimum could be verified for params {self.params}")
        minima = np.array(found)
        values = np.array([float(self.value(m)) for m in minima])
        best = values.min()
        is_global = values <= best + 1e-10 * max(1.0, abs(best))
        order = np.argsort(values, kind="stable")  # so minima[0] is the lowest, even in a near-tie
        self._minima = minima[order]
        self._global_mask = is_global[order]

    def _set_saddles(self, candidates: Sequence[Sequence[float]]) -> None:
        """Polish candidate saddle points by plain Newton; keep those verified indefinite."""
        found = []
        for start in candidates:
            x = np.asarray(start, dtype=np.float64)
            for _ in range(50):
                step = np.linalg.solve(self.hessian(x), self.grad(x))
                x = x - step
                if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(x)))):
                    break
            eigenvalues = np.linalg.eigvalsh(self.hessian(x))
            scale = max(1.0, float(np.max(np.abs(eigenvalues))))
            if np.max(np.abs(self.grad(x))) <= 1e-9 * scale and eigenvalues[0] < 0 < eigenvalues[-1]:
                found.append(x)
        self._saddle_points = np.array(found).reshape(-1, self.dim)

    def _set_box(self, lo: Sequence[float], hi: Sequence[float], margin: float = 0.5) -> None:
        """The given box, widened if needed so every known minimum lies ``margin`` inside it."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        features = np.concatenate([self._minima, self._saddle_points])
        if len(features):
            lo = np.minimum(lo, features.min(axis=0) - margin)
            hi = np.maximum(hi, features.max(axis=0) + margin)
        self._lo, self._hi = lo, hi

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{type(self).__name__}({shown})"


def _newton(surface: Surface, start: np.ndarray, iterations: int = 100) -> np.ndarray | None:
    """Newton's method from ``start``; the point if it is a verified strict local minimum."""
    x = start.copy()
    for _ in range(iterations):
        step = np.linalg.solve(surface.hessian(x), surface.grad(x))
        if not np.all(np.isfinite(step)):
            return None
        x = x - step
        if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(x)))):
            break
    h = surface.hessian(x)
    eigenvalues = np.linalg.eigvalsh(h)
    scale = max(1.0, float(np.max(np.abs(eigenvalues))) * max(1.0, float(np.max(np.abs(x)))))
    if np.max(np.abs(surface.grad(x))) > 1e-9 * scale or eigenvalues[0] <= 1e-12 * scale:
        return None
    return x


# ---------------------------------------------------------------------------------------
# the surfaces


class Quadratic(Surface):
    r"""Ill-conditioned bowl ``f(x) = 1/2 (x - c)^T H (x - c)``, ``H = Q diag(lambda) Q^T``.

    Give either ``eigenvalues`` (all > 0) or ``dim`` and ``condition_number``
    (eigenvalues geometrically spaced from ``lambda_max / condition_number`` up to
    ``lambda_max`` (default 1), ascending, so in 2-D the valley runs along the first
    axis). Defaults: ``dim=2``, ``condition_number=10`` (1 when ``dim=1``).
    ``angle`` (radians, 2-D only) rotates the bowl by ``Q = [[cos, -sin], [sin, cos]]``;
    ``seed`` draws a random orthogonal ``Q`` (QR of a Gaussian matrix, signs fixed) in
    any dimension; without either ``Q = I``. ``center`` is ``c`` (default 0).

    grad = ``H (x - c)``; Hessian = ``H`` everywhere. Single minimum ``c`` with value 0.
    Box: the bounding box of the level set ``f <= 2 lambda_max``, i.e.
    ``c_i +- 2 sqrt(lambda_max (H^{-1})_ii)``.

    Lecture use: the whole theory of gradient descent in one picture. GD converges iff
    ``lr < 2 / lambda_max``; the slow direction contracts by ``1 - lr lambda_min`` per
    step, so the condition number ``lambda_max / lambda_min`` sets the speed; above
    ``2/lambda_max`` the steep direction oscillates and grows (the "loss increases every
    epoch" question is exactly this); momentum and Adam change the picture.
    Exposes ``eigenvalues`` (d,), ``hessian_matrix`` (d, d), ``rotation`` (d, d),
    ``center`` (d,), ``lambda_max``, ``lambda_min``, ``condition_number``.
    """

    name = "quadratic"

    def __init__(self, eigenvalues: Sequence[float] | None = None, *, dim: int | None = None,
                 condition_number: float | None = None, lambda_max: float | None = None,
                 angle: float | None = None, seed: int | None = None,
                 center: Sequence[float] | None = None) -> None:
        if eigenvalues is not None:
            if dim is not None or condition_number is not None or lambda_max is not None:
                raise ValueError("give either eigenvalues or (dim, condition_number[, lambda_max]),"
                                 f" not both; got eigenvalues={eigenvalues!r}, dim={dim!r}, "
                                 f"condition_number={condition_number!r}, lambda_max={lambda_max!r}")
            lam = _validate.array("eigenvalues", eigenvalues, dtype=np.float64, ndim=1)
            if np.any(lam <= 0):
                raise ValueError(f"eigenvalues must all be > 0 (a bowl), got {_validate.show(lam.tolist())}")
            # its d x d Hessian and rotation, as _dim checks for dim=
            _validate.memory("eigenvalues", 4 * 8 * lam.size * lam.size,
                             f"a {_validate.count(lam.size)}-dimensional surface")
            params: dict[str, Any] = {"eigenvalues": tuple(float(v) for v in lam)}
        else:
            dim = _dim(2 if dim is None else dim, minimum=1, square=True)
            if condition_number is None:
                condition_number = 10.0 if dim > 1 else 1.0
            condition_number = _validate.finite("condition_number", condition_number)
            if condition_number < 1:
                raise ValueError(f"condition_number must be >= 1, got {condition_number}")
            if dim == 1 and condition_number != 1:
                raise ValueError(f"condition_number must be 1 for dim=1, got {condition_number}")
            lambda_max = _validate.positive("lambda_max", 1.0 if lambda_max is None else lambda_max)
            lambda_min = lambda_max / condition_number
            # clip: geomspace's rounding must not push an inner eigenvalue past lambda_max
            lam = np.clip(np.geomspace(lambda_min, lambda_max, dim), lambda_min, lambda_max)
            lam[0], lam[-1] = lambda_min, lambda_max
            params = {"dim": dim, "condition_number": condition_number, "lambda_max": lambda_max}
        d = lam.size
        if angle is not None and seed is not None:
            raise ValueError(f"give angle or seed, not both; got angle={angle!r}, seed={seed!r}")
        if angle is not None:
            angle = _validate.finite("angle", angle)
            if d != 2:
                raise ValueError(f"angle rotates a 2-D bowl only; use seed=... for dim={d}")
            c, s = math.cos(angle), math.sin(angle)
            rotation = np.array([[c, -s], [s, c]])
            params["angle"] = angle
        elif seed is not None:
            rng = np.random.default_rng(_validate.seed("seed", seed))
            q, r = np.linalg.qr(rng.standard_normal((d, d)))
            rotation = q * np.where(np.diag(r) < 0, -1.0, 1.0)
            params["seed"] = seed
        else:
            rotation = np.eye(d)
        if center is not None:
            c_arr = _validate.array("center", center, dtype=np.float64, ndim=1)
            _validate.shape("center", c_arr, (d,))
            params["center"] = tuple(float(v) for v in c_arr)
        else:
            c_arr = np.zeros(d)
        super().__init__(d, params)
        self.eigenvalues = lam.copy()
        self.rotation = rotation
        self.center = c_arr
        self._diagonal = angle is None and seed is None
        h = (rotation * lam) @ rotation.T
        self.hessian_matrix = (h + h.T) / 2  # exactly symmetric
        self._minima = c_arr[None, :].copy()
        self._global_mask = np.array([True])
        inverse_diagonal = _sum_last(rotation * rotation / lam)
        half_width = 2.0 * np.sqrt(lam.max() * inverse_diagonal)
        self._lo, self._hi = c_arr - half_width, c_arr + half_width

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues.max())

    @property
    def lambda_min(self) -> float:
        return float(self.eigenvalues.min())

    @property
    def condition_number(self) -> float:
        return self.lambda_max / self.lambda_min

    def _hx(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = x - self.center.astype(x.dtype)
        if self._diagonal:
            return r, self.eigenvalues.astype(x.dtype) * r
        return r, _matvec(self.hessian_matrix.astype(x.dtype), r)

    def _value(self, x):
        r, hr = self._hx(x)
        return 0.5 * _sum_last(r * hr)

    def _grad(self, x):
        return self._hx(x)[1]

    def _hessian(self, x):
        return np.broadcast_to(self.hessian_matrix.astype(x.dtype),
                               x.shape[:-1] + (self.dim, self.dim)).copy()


class Rosenbrock(Surface):
    r"""Rosenbrock's banana valley, chained form in ``d >= 2`` dimensions:

    ``f(x) = sum_{i=1}^{d-1} [ b (x_{i+1} - x_i^2)^2 + (a - x_i)^2 ]``  (a=1, b=100).

    Minima: global ``(1, ..., 1)`` with value 0 for ``a = 1`` (in 2-D ``(a, a^2)``);
    for ``d >= 4`` also a local minimum near ``(-1, 1, ..., 1)`` (d=4:
    ``(-0.7757, 0.6131, 0.3820, 0.1459)``, value 3.7014; Newton-verified at construction).
    Other ``a`` in ``d > 2`` have no closed form: the minimum is found by Newton.
    Box: ``x_1 in [-2, 2]``, ``x_i in [-1, 3]`` for ``i > 1`` (the classic 2-D frame),
    widened if needed to hold the minima.

    Lecture use: a curved, narrow, flat-bottomed valley. GD with a learning rate small
    enough for the steep walls (curvature ~ 2b) crawls along the floor and zig-zags;
    momentum builds speed along the valley; Adam rescales per coordinate.
    """

    name = "rosenbrock"

    def __init__(self, dim: int = 2, a: float = 1.0, b: float = 100.0) -> None:
        dim = _dim(dim, minimum=2, square=True)  # Newton on the d x d Hessian
        # beyond these the minimum (a, a^2) and its Hessian (~ b a^2) leave the float range,
        # and Newton's search for the minima would fail inside LinAlg
        a = _validate.in_range("a", a, -1e6, 1e6, high_open=False)
        b = _validate.positive("b", b)
        if b > 1e12:
            raise ValueError(f"b must be <= 1e12, got {b:g}")
        super().__init__(dim, {"dim": dim, "a": a, "b": b})
        self.a, self.b = a, b
        global_start = [a] * (dim - 1) + [a * a] if dim == 2 else [a] * dim
        candidates = [global_start]
        if dim >= 4:
            candidates.append([-1.0] + [1.0] * (dim - 1))
        self._set_minima(candidates)
        self._set_box([-2.0] + [-1.0] * (dim - 1), [2.0] + [3.0] * (dim - 1))

    def _value(self, x):
        head, tail = x[..., :-1], x[..., 1:]
        valley = tail - head * head
        off = self.a - head
        return _sum_last(self.b * valley * valley + off * off)

    def _grad(self, x):
        a, b = self.a, self.b
        head, tail = x[..., :-1], x[..., 1:]
        valley = tail - head * head
        g = np.zeros_like(x)
        g[..., :-1] = -4.0 * b * head * valley - 2.0 * (a - head)
        g[..., 1:] = g[..., 1:] + 2.0 * b * valley
        return g

    def _hessian(self, x):
        b, d = self.b, self.dim
        head, tail = x[..., :-1], x[..., 1:]
        h = np.zeros(x.shape + (d,), dtype=x.dtype)
        idx = np.arange(d)
        diag = np.zeros_like(x)
        diag[..., :-1] = -4.0 * b * (tail - head * head) + 8.0 * b * head * head + 2.0
        diag[..., 1:] = diag[..., 1:] + 2.0 * b
        h[..., idx, idx] = diag
        off = -4.0 * b * head
        h[..., idx[:-1], idx[1:]] = off
        h[..., idx[1:], idx[:-1]] = off
        return h


class Beale(Surface):
    r"""Beale's function (2-D):

    ``f(x, y) = (1.5 - x + x y)^2 + (2.25 - x + x y^2)^2 + (2.625 - x + x y^3)^2``.

    Minimum: ``(3, 0.5)`` with value 0, the only local minimum. Saddles at ``(0, 1)``
    (value 14.203125, on the flat plateau ``x = 0``) and ``(0.1005379, -2.6445136)``.
    Box ``[-4.5, 4.5]^2``.

    Lecture use: sharp corners and huge flat regions in one frame, so gradient
    magnitudes vary by orders of magnitude: plain GD needs a tiny learning rate to
    survive the walls and then stalls on the plateaus, while Adam's per-coordinate
    normalisation keeps a steady pace.
    """

    name = "beale"
    _c = (1.5, 2.25, 2.625)

    def __init__(self) -> None:
        super().__init__(2, {})
        self._set_saddles([[0.0, 1.0], [0.1005379, -2.6445136]])
        self._set_minima([[3.0, 0.5]])
        self._set_box([-4.5, -4.5], [4.5, 4.5])

    def _terms(self, x):
        px, py = x[..., 0], x[..., 1]
        powers = (py, py * py, py * py * py)  # y^k and its first two derivatives
        dpowers = (1.0, 2.0 * py, 3.0 * py * py)
        ddpowers = (0.0, 2.0, 6.0 * py)
        residuals = [c - px + px * p for c, p in zip(self._c, powers)]
        return px, powers, dpowers, ddpowers, residuals

    def _value(self, x):
        _, _, _, _, res = self._terms(x)
        return res[0] * res[0] + res[1] * res[1] + res[2] * res[2]

    def _grad(self, x):
        px, powers, dpowers, _, res = self._terms(x)
        gx = 0.0
        gy = 0.0
        for r, p, dp in zip(res, powers, dpowers):
            gx = gx + 2.0 * r * (p - 1.0)
            gy = gy + 2.0 * r * (px * dp)
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1)

    def _hessian(self, x):
        px, powers, dpowers, ddpowers, res = self._terms(x)
        hxx = hxy = hyy = 0.0
        for r, p, dp, ddp in zip(res, powers, dpowers, ddpowers):
            rx, ry = p - 1.0, px * dp
            hxx = hxx + 2.0 * rx * rx
            hxy = hxy + 2.0 * (rx * ry + r * dp)
            hyy = hyy + 2.0 * (ry * ry + r * px * ddp)
        row0 = np.stack(np.broadcast_arrays(hxx, hxy), axis=-1)
        row1 = np.stack(np.broadcast_arrays(hxy, hyy), axis=-1)
        return np.stack([row0, row1], axis=-2)


class Himmelblau(Surface):
    r"""Himmelblau's function (2-D): ``f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four global minima, all with value 0: ``(3, 2)`` exactly and, polished by Newton,
    ``(-2.805118, 3.131313)``, ``(-3.779310, -3.283186)``, ``(3.584428, -1.848126)``.
    Four saddles between them (``saddle_points``, lowest ``(3.385154, 0.073852)`` with
    value 13.31), local maximum near ``(-0.270845, -0.923039)``. Box ``[-5, 5]^2``.

    Lecture use: which minimum you reach depends only on where you start (basins of
    attraction); colour a grid of starts by ``nearest_minimum`` of the end point.
    """

    name = "himmelblau"

    def __init__(self) -> None:
        super().__init__(2, {})
        self._set_minima([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186],
                          [3.584428, -1.848126]])
        self._set_saddles([[3.3851542, 0.0738519], [0.0866775, 2.8842547],
                           [-3.0730258, -0.081353], [-0.1279613, -1.953715]])
        self._set_box([-5.0, -5.0], [5.0, 5.0])

    def _value(self, x):
        px, py = x[..., 0], x[..., 1]
        u = px * px + py - 11.0
        v = px + py * py - 7.0
        return u * u + v * v

    def _grad(self, x):
        px, py = x[..., 0], x[..., 1]
        u = px * px + py - 11.0
        v = px + py * py - 7.0
        return np.stack([4.0 * px * u + 2.0 * v, 2.0 * u + 4.0 * py * v], axis=-1)

    def _hessian(self, x):
        px, py = x[..., 0], x[..., 1]
        u = px * px + py - 11.0
        v = px + py * py - 7.0
        hxx = 4.0 * u + 8.0 * px * px + 2.0
        hyy = 2.0 + 4.0 * v + 8.0 * py * py
        hxy = 4.0 * px + 4.0 * py
        return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], axis=-2)


class _Separable(Surface):
    """``f(x) = sum_i phi(x_i)``: minima are the product lattice of phi's 1-D minima."""

    def _phi(self, t, order: int):  # the 1-D term (order 0) or its derivatives (1, 2)
        raise NotImplementedError

    def _value(self, x):
        return _sum_last(self._phi(x, 0))

    def _grad(self, x):
        return self._phi(x, 1)

    def _hessian(self, x):
        d = self.dim
        h = np.zeros(x.shape + (d,), dtype=x.dtype)
        idx = np.arange(d)
        h[..., idx, idx] = self._phi(x, 2)
        return h

    def _set_lattice(self, minima_1d: np.ndarray, global_1d: int) -> None:
        """Minima = all products of the (sorted) 1-D minima, or only the global one and its
        lattice neighbours when there are more than MAX_LISTED_MINIMA; sorted by value."""
        d, k = self.dim, len(minima_1d)
        self._minima_1d = minima_1d
        self._full_lattice = k ** d <= MAX_LISTED_MINIMA
        if self._full_lattice:
            grid = np.stack(np.meshgrid(*([minima_1d] * d), indexing="ij"), axis=-1)
            candidates = grid.reshape(-1, d)
        else:
            centre = np.full(d, minima_1d[global_1d])
            rows = [centre]
            for i in range(d):
                for j in (global_1d - 1, global_1d + 1):
                    if 0 <= j < k:
                        row = centre.copy()
                        row[i] = minima_1d[j]
                        rows.append(row)
            candidates = np.array(rows)
        values = self.value(candidates)
        order = np.argsort(values, kind="stable")
        self._lattice_order = np.argsort(order)  # lattice index -> position in minima
        self._minima = candidates[order]
        values = values[order]
        self._global_mask = values <= values[0] + 1e-10 * max(1.0, abs(float(values[0])))

    def nearest_minimum(self, x: Any) -> np.ndarray:
        """As :meth:`Surface.nearest_minimum`; on the full lattice the nearest minimum is
        found coordinate by coordinate (squared distance is a sum over coordinates)."""
        if not self._full_lattice:
            return super().nearest_minimum(x)
        x, _ = self._points(x)
        x = x.astype(np.float64)
        k = len(self._minima_1d)
        best = np.zeros(x.shape, dtype=np.int64)
        best_distance = np.full(x.shape, np.inf)
        for index, m in enumerate(self._minima_1d):
            distance = np.abs(x - m)
            closer = distance < best_distance
            best = np.where(closer, index, best)
            best_distance = np.where(closer, distance, best_distance)
        flat = best[..., 0]
        for i in range(1, self.dim):
            flat = flat * k + best[..., i]
        return self._flag_nonfinite(x, self._lattice_order[flat])


def _minima_1d(phi: Callable, starts: Sequence[float]) -> np.ndarray:
    """Newton-polished strict local minima of a 1-D function near each start (deduplicated)."""
    found: list[float] = []
    for start in starts:
        t = np.float64(start)
        for _ in range(100):
            step = phi(t, 1) / phi(t, 2)
            t = t - step
            if abs(step) <= 1e-15 * max(1.0, abs(t)):
                break
        d1, d2 = phi(t, 1), phi(t, 2)
        if abs(d1) < 1e-9 * max(1.0, abs(d2)) and d2 > 0 and abs(t - start) < 0.5 \
                and all(abs(t - f) > 1e-6 for f in found):
            found.append(float(t))
    return np.array(sorted(found))


class Rastrigin(_Separable):
    r"""Rastrigin's function in ``d`` dimensions:

    ``f(x) = A d + sum_i (x_i^2 - A cos(2 pi x_i))``  (A = 10).

    Global minimum 0 at the origin; a local minimum near every integer point (for
    A = 10: 11 per coordinate in the box, 11**d in all; the 1-D ones are polished by
    Newton). All are listed while 11**d <= MAX_LISTED_MINIMA (d <= 4), otherwise the
    global one and its 2d lattice neighbours. Box ``[-5.12, 5.12]^d``.

    Lecture use: a bowl covered in egg-crate dimples. Exact GD stops in the first
    dimple; noisy SGD / large steps hop between dimples and drift down the bowl,
    the "noise helps escape local minima" picture at scale.
    """

    name = "rastrigin"

    def __init__(self, dim: int = 2, A: float = 10.0) -> None:  # noqa: N803 (textbook name)
        dim = _dim(dim, minimum=1)
        A = _validate.positive("A", A)  # noqa: N806
        super().__init__(dim, {"dim": dim, "A": A})
        self.A = A
        self._set_box([-5.12] * dim, [5.12] * dim, margin=0.0)
        starts = list(range(-5, 6))
        m1 = _minima_1d(self._phi, starts)
        self._set_lattice(m1, int(np.argmin(np.abs(m1))))

    def _phi(self, t, order):
        two_pi = 2.0 * math.pi
        angle = two_pi * t
        a = self.A
        if order == 0:
            return t * t - a * np.cos(angle) + a
        if order == 1:
            return 2.0 * t + two_pi * a * np.sin(angle)
        return 2.0 + two_pi * two_pi * a * np.cos(angle)


class StyblinskiTang(_Separable):
    r"""Styblinski-Tang function in ``d`` dimensions:

    ``f(x) = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)``.

    Each coordinate has a deep minimum at ``-2.903534`` and a shallow one at
    ``2.746803``: 2**d local minima, global at ``(-2.903534, ...)`` with value
    ``-39.16616570 d``. All are listed while 2**d <= MAX_LISTED_MINIMA (d <= 14),
    otherwise the global one and its d neighbours. Box ``[-5, 5]^d``.

    Lecture use: the number of local minima grows exponentially with dimension
    while every one of them looks alike locally; count how often random starts, GD
    and noisy GD end in the global one as d grows.
    """

    name = "styblinski_tang"

    def __init__(self, dim: int = 2) -> None:
        dim = _dim(dim, minimum=1)
        super().__init__(dim, {"dim": dim})
        self._set_box([-5.0] * dim, [5.0] * dim, margin=0.0)
        m1 = _minima_1d(self._phi, [-2.903534, 2.746803])
        self._set_lattice(m1, 0)

    def _phi(self, t, order):
        t2 = t * t
        if order == 0:
            return 0.5 * (t2 * t2 - 16.0 * t2 + 5.0 * t)
        if order == 1:
            return 2.0 * t2 * t - 16.0 * t + 2.5
        return 6.0 * t2 - 16.0


class SixHumpCamel(Surface):
    r"""Six-hump camel function (2-D):

    ``f(x, y) = (4 - 2.1 x^2 + x^4 / 3) x^2 + x y + (-4 + 4 y^2) y^2``.

    Six local minima (Newton-polished): two global ``(0.0898, -0.7126)`` and
    ``(-0.0898, 0.7126)`` with value -1.0316285, then ``(+-1.7036, -+0.7961)`` with
    value -0.2154638 and ``(+-1.6071, +-0.5687)`` with value 2.1042503. Seven saddles
    (``saddle_points``), one at the origin between the two global minima (value 0).
    Box ``[-3, 3] x [-2, 2]``.

    Lecture use: a small landscape with minima of three different depths, for basins
    of attraction and for "does noise/momentum find the deepest one?".
    """

    name = "six_hump_camel"

    def __init__(self) -> None:
        super().__init__(2, {})
        self._set_minima([[0.0898, -0.7126], [-0.0898, 0.7126], [-1.7036, 0.7961],
                          [1.7036, -0.7961], [-1.6071, -0.5687], [1.6071, 0.5687]])
        self._set_saddles([[0.0, 0.0], [1.1092053, -0.7682681], [-1.1092053, 0.7682681],
                           [1.2960703, 0.6050844], [-1.2960703, -0.6050844],
                           [1.638068, 0.2286741], [-1.638068, -0.2286741]])
        self._set_box([-3.0, -2.0], [3.0, 2.0])

    def _value(self, x):
        px, py = x[..., 0], x[..., 1]
        x2, y2 = px * px, py * py
        return (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + px * py + (-4.0 + 4.0 * y2) * y2

    def _grad(self, x):
        px, py = x[..., 0], x[..., 1]
        x2, y2 = px * px, py * py
        gx = 8.0 * px - 8.4 * x2 * px + 2.0 * x2 * x2 * px + py
        gy = px - 8.0 * py + 16.0 * y2 * py
        return np.stack([gx, gy], axis=-1)

    def _hessian(self, x):
        px, py = x[..., 0], x[..., 1]
        x2, y2 = px * px, py * py
        hxx = 8.0 - 25.2 * x2 + 10.0 * x2 * x2
        hyy = -8.0 + 48.0 * y2
        hxy = np.ones_like(px)
        return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], axis=-2)


#: Largest |tilt| for which the double well still has two minima: 2 / (3 sqrt 3).
DOUBLE_WELL_MAX_TILT = 2.0 / (3.0 * math.sqrt(3.0))


class DoubleWell(Surface):
    r"""Tilted double well, 1-D or 2-D:

    ``f(x) = x^4/4 - x^2/2 + tilt x``            (dim=1)
    ``f(x, y) = x^4/4 - x^2/2 + tilt x + (curvature_y / 2) y^2``   (dim=2)

    Critical points solve ``x^3 - x + tilt = 0`` (and ``y = 0``): for
    ``|tilt| < 2 / (3 sqrt 3) ~ 0.3849`` three real roots, found in closed form
    (trigonometric cubic formula) and polished by Newton. The outer two are minima,
    the middle one the barrier (a maximum in 1-D, a saddle in 2-D). ``tilt > 0``
    makes the left well the deeper (global) one.

    Default ``tilt = 0.2``: global minimum ``x = -1.0880339`` (f = -0.4591595), shallow
    local minimum ``x = 0.8788851`` (f = -0.0612770), barrier at ``x = 0.2091488``
    (f = 0.0204365). Barrier height seen from the shallow well 0.0817135, from the deep
    well 0.4795961. Attributes ``barrier`` (d,), ``barrier_value``, ``barrier_height``
    (from the shallow/local well), ``barrier_height_global`` (from the global well).
    Box ``[-2, 2]`` (2-D: ``[-2, 2] x [-1.5, 1.5]``).

    ``nearest_minimum`` classifies by basin, not distance: points left of the barrier
    belong to the left well, right of it (or on it) to the right well — the basins
    of gradient flow, which is what escape statistics count.

    Lecture use: "noise escapes a local minimum". Start in the shallow well: exact GD
    stays; SGD-like noise (or a large step) hops the low barrier into the deep well
    and rarely comes back.
    """

    name = "double_well"

    def __init__(self, tilt: float = 0.2, dim: int = 1, curvature_y: float = 1.0) -> None:
        tilt = _validate.finite("tilt", tilt)
        if not abs(tilt) < DOUBLE_WELL_MAX_TILT:
            raise ValueError(f"tilt must be in (-{DOUBLE_WELL_MAX_TILT:.6f}, "
                             f"{DOUBLE_WELL_MAX_TILT:.6f}) for two wells, got {tilt}")
        dim = _dim(dim, minimum=1)
        if dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim}")
        curvature_y = _validate.positive("curvature_y", curvature_y)
        params: dict[str, Any] = {"tilt": tilt, "dim": dim}
        if dim == 2:
            params["curvature_y"] = curvature_y
        super().__init__(dim, params)
        self.tilt, self.curvature_y = tilt, curvature_y
        roots = np.sort(_cubic_roots(tilt))
        pad = [0.0] * (dim - 1)
        self._saddle_points = np.array([[roots[1]] + pad])
        self._set_minima([[roots[0]] + pad, [roots[2]] + pad])
        self._set_box([-2.0] + [-1.5] * (dim - 1), [2.0] + [1.5] * (dim - 1))

    @property
    def barrier(self) -> np.ndarray:
        return self._saddle_points[0].copy()

    @property
    def barrier_value(self) -> float:
        return float(self.value(self._saddle_points[0]))

    @property
    def barrier_height(self) -> float:
        """Barrier value minus the value of the shallower (local) minimum."""
        return self.barrier_value - float(np.max(self.value(self._minima)))

    @property
    def barrier_height_global(self) -> float:
        return self.barrier_value - self.global_min_value

    def _value(self, x):
        t = x[..., 0]
        t2 = t * t
        v = 0.25 * t2 * t2 - 0.5 * t2 + self.tilt * t
        if self.dim == 2:
            v = v + 0.5 * self.curvature_y * x[..., 1] * x[..., 1]
        return v

    def _grad(self, x):
        t = x[..., 0]
        g = np.empty_like(x)
        g[..., 0] = t * t * t - t + self.tilt
        if self.dim == 2:
            g[..., 1] = self.curvature_y * x[..., 1]
        return g

    def _hessian(self, x):
        h = np.zeros(x.shape + (self.dim,), dtype=x.dtype)
        t = x[..., 0]
        h[..., 0, 0] = 3.0 * t * t - 1.0
        if self.dim == 2:
            h[..., 1, 1] = self.curvature_y
        return h

    def nearest_minimum(self, x: Any) -> np.ndarray:
        """Basin index: which side of the barrier each point's first coordinate is on."""
        x, _ = self._points(x)
        t = x[..., 0].astype(np.float64)
        left = int(np.argmin(self._minima[:, 0]))
        index = np.where(t < self._saddle_points[0, 0], left, 1 - left)
        return self._flag_nonfinite(x, index)


def _cubic_roots(tilt: float) -> np.ndarray:
    """The three real roots of ``x^3 - x + tilt`` (trigonometric form), Newton-polished."""
    phase = math.acos(-1.5 * math.sqrt(3.0) * tilt) / 3.0
    roots = np.array([2.0 / math.sqrt(3.0) * math.cos(phase - 2.0 * math.pi * k / 3.0)
                      for k in range(3)])
    for _ in range(5):
        roots = roots - (roots * roots * roots - roots + tilt) / (3.0 * roots * roots - 1.0)
    return roots


class Saddle(Surface):
    r"""The plain saddle ``f(x, y) = x^2 - y^2`` (2-D).

    One critical point, the saddle at the origin (Hessian ``diag(2, -2)``); no minima
    at all: the surface is unbounded below. So ``minima`` is empty (shape (0, 2)),
    ``global_minimum`` is ``[nan, nan]``, ``global_min_value`` is ``-inf`` and
    ``nearest_minimum`` raises ValueError. ``saddle_points`` is ``[[0, 0]]``.
    Box ``[-2, 2]^2``.

    Lecture use: GD started exactly on the ``x`` axis converges to the saddle and
    stops; the slightest noise (or any ``y != 0``) makes it leave along ``y``,
    slowly at first: the "noise escapes saddles" and "plateaus in training" story.
    """

    name = "saddle"

    def __init__(self) -> None:
        super().__init__(2, {})
        self._saddle_points = np.zeros((1, 2))
        self._lo, self._hi = np.full(2, -2.0), np.full(2, 2.0)

    @property
    def global_minimum(self) -> np.ndarray:
        return np.full(2, np.nan)

    @property
    def global_min_value(self) -> float:
        return -math.inf

    def nearest_minimum(self, x: Any) -> np.ndarray:
        raise ValueError("the saddle surface has no minima (it is unbounded below); "
                         "nearest_minimum is undefined")

    def _value(self, x):
        return x[..., 0] * x[..., 0] - x[..., 1] * x[..., 1]

    def _grad(self, x):
        return np.stack([2.0 * x[..., 0], -2.0 * x[..., 1]], axis=-1)

    def _hessian(self, x):
        h = np.zeros(x.shape + (2,), dtype=x.dtype)
        h[..., 0, 0] = 2.0
        h[..., 1, 1] = -2.0
        return h


# ---------------------------------------------------------------------------------------
# registry

_REGISTRY: dict[str, type[Surface]] = {
    cls.name: cls for cls in (Quadratic, Rosenbrock, Beale, Himmelblau, Rastrigin, DoubleWell,
                              Saddle, SixHumpCamel, StyblinskiTang)
}


def names() -> list[str]:
    """Sorted registry names of all surfaces."""
    return sorted(_REGISTRY)


def _dim(value: Any, minimum: int, square: bool = False) -> int:
    """A surface's dimension: an integer >= ``minimum`` whose arrays fit in memory (a
    quadratic holds d x d matrices, the others a few length-d vectors)."""
    dim = _validate.integer("dim", value, minimum=minimum)
    _validate.memory("dim", 4 * 8 * (dim * dim if square else dim), f"a {_validate.count(dim)}-dimensional surface")
    return dim


def get(name: str, **params: Any) -> Surface:
    """Build the surface called ``name`` with constructor ``params``.

    ``get("quadratic", dim=2, condition_number=10)``, ``get("rosenbrock", dim=5)``,
    ``get("double_well", tilt=0.1, dim=2)``. An unknown name raises ValueError listing
    the names and the closest match; an unknown parameter raises TypeError listing the
    accepted ones.
    """
    cls = _REGISTRY[_validate.choice("surface", name, names())]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"surface {name!r} got unknown parameter(s) {unknown}; "
                        f"it accepts {accepted}")
    return cls(**params)
