r"""Hessian-vector products, Lanczos eigenvalues and sharpness, without autodiff.

Everything here works on a *matvec*: a function ``v -> H v`` on flat float64 vectors of
length ``dim``. Three ways to get one:

* :func:`problem_hvp` -- a surface or finite-sum problem at a point. Exact (``H = hessian(x)``)
  when the object has a Hessian, which every gdsim surface and problem has; otherwise central
  differences of its ``grad``.
* :func:`model_hvp` -- a compiled :class:`gdsim.nn.model.Sequential` on a batch ``(x, y)``,
  through its public gradient ``model.gradient(x, y)`` (the batch mean loss and ``dL/dw`` for
  every array of ``model.trainable_weights``), in the flat order of those arrays:

  - ``method="central"``: ``H v ~ (g(w + h u) - g(w - h u)) / (2h) * |v|`` with ``u = v/|v|``
    and ``h = step`` (default :data:`CENTRAL_STEP` = 1e-5). The error is ``O(h^2)`` from the
    third derivative plus ``O(eps |g| / h)`` from rounding: about 1e-10 relative in float64.
    The model must be float64 (in float32 the rounding term alone is ~1e-2).
  - ``method="complex"``: the complex step ``H v = Im g(w + i h v) / h`` with ``h = 1e-20``:
    no subtraction, so exact to rounding. It needs every operation to be holomorphic; it is
    implemented for Dense and Activation layers with linear, tanh or sigmoid and the (half)
    mean squared error, and refused with an error naming the first layer (or loss) that is not.

* :func:`preconditioned` -- ``P^-1/2 H P^-1/2`` for a diagonal preconditioner ``P``, e.g. the
  one Adam or RMSprop is using now (:func:`preconditioner`).

:func:`top_eigenvalues` runs Lanczos with full re-orthogonalisation on a matvec and returns
Ritz values and vectors; :func:`bottom_eigenvalue` the most negative curvature (a saddle's
escape direction). The *sharpness* is the top eigenvalue ``lambda_max(H)``. Gradient descent
on a quadratic is stable iff ``lambda_max < 2/eta``; :func:`stability_threshold` gives the
corresponding threshold for momentum and for Adam's preconditioned sharpness (Cohen et al.,
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR 2021;
"Adaptive gradient methods at the edge of stability", 2022).

:class:`SharpnessCallback` records the sharpness every k epochs of ``fit`` into the History;
:func:`sharpness_observer` makes the ``observe=`` hook of :func:`gdsim.simulate.run` record it
into the trajectory.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from gdsim import _validate, optim
from gdsim.nn.callbacks import Callback
from gdsim.nn.layers import Activation, Dense
from gdsim.nn.losses import HalfMeanSquaredError, MeanSquaredError

__all__ = ["Matvec", "CENTRAL_STEP", "COMPLEX_STEP", "problem_hvp", "model_hvp", "flat_weights",
           "top_eigenvalues", "bottom_eigenvalue", "sharpness", "preconditioner", "preconditioned",
           "stability_threshold", "model_sharpness", "SharpnessCallback", "sharpness_observer"]

Matvec = Callable[[np.ndarray], np.ndarray]

#: Norm of the weight perturbation of the central difference (float64: error ~1e-10 relative).
CENTRAL_STEP = 1e-5
#: Imaginary step of the complex-step derivative (no cancellation: any tiny value works).
COMPLEX_STEP = 1e-20
_HOLOMORPHIC = ("linear", "tanh", "sigmoid")


# --------------------------------------------------------------------------- surfaces, problems

def problem_hvp(problem: Any, x: Any, *, idx: Any = None, step: float = CENTRAL_STEP) -> Matvec:
    """``v -> H(x) v`` for a surface or finite-sum problem at one point ``x`` of shape (dim,).

    Exact (``hessian(x) @ v``) when ``problem`` has a ``hessian``; otherwise the central
    difference ``(grad(x + h u) - grad(x - h u)) / (2h) * |v|`` with ``u = v/|v|``, ``h = step``.
    ``idx`` (integer sample indices, shape (B,)) takes the Hessian of a finite-sum problem's
    minibatch loss, the one :class:`gdsim.noise.Minibatch` feeds the optimizer.
    """
    for attr in ("dim", "grad"):
        if not hasattr(problem, attr):
            raise TypeError(f"problem must be a surface or problem (dim, grad), got {type(problem).__name__}")
    point = _validate.array("x", x, dtype=np.float64, ndim=1)
    if point.shape != (problem.dim,):
        raise ValueError(f"x must have shape ({problem.dim},), got {point.shape}")
    step = _validate.positive("step", step)
    batch = {} if idx is None else {"idx": idx}
    if hasattr(problem, "hessian"):
        h = np.asarray(problem.hessian(point, **batch), dtype=np.float64)
        return lambda v: h @ _vector(v, problem.dim)

    def central(v: np.ndarray) -> np.ndarray:
        v = _vector(v, problem.dim)
        norm = np.linalg.norm(v)
        if norm == 0:
            return np.zeros_like(v)
        u = v / norm
        plus = np.asarray(problem.grad(point + step * u, **batch), dtype=np.float64)
        minus = np.asarray(problem.grad(point - step * u, **batch), dtype=np.float64)
        return (plus - minus) * (norm / (2 * step))

    return central


def _vector(v: Any, dim: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (dim,):
        raise ValueError(f"v must have shape ({dim},), got {v.shape}")
    return v


# --------------------------------------------------------------------------- Sequential models

def flat_weights(model: Any) -> np.ndarray:
    """The model's trainable weights as one float64 vector (the order of ``trainable_weights``)."""
    weights = model.trainable_weights
    if not weights:
        raise ValueError("model has no trainable weights")
    return np.concatenate([np.ravel(w).astype(np.float64) for w in weights])


def _split(vector: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    out, start = [], 0
    for w in like:
        out.append(vector[start:start + w.size].reshape(w.shape))
        start += w.size
    return out


class _Weights:
    """Installs trial weights through the public ``layer.set_trainable_weights`` and restores
    the originals (the very same arrays) afterwards."""

    def __init__(self, model: Any) -> None:
        self.layers = model.trainable_layers
        self.original = [list(layer.trainable_weights) for layer in self.layers]

    def install(self, arrays: list[np.ndarray]) -> None:
        start = 0
        for layer, own in zip(self.layers, self.original):
            layer.set_trainable_weights(arrays[start:start + len(own)])
            start += len(own)

    def restore(self) -> None:
        for layer, own in zip(self.layers, self.original):
            layer.set_trainable_weights(own)


def model_hvp(model: Any, x: Any, y: Any, *, method: str = "central", step: float | None = None,
              training: bool = False, batch_statistics: bool = False) -> Matvec:
    """``v -> H v`` for the batch mean loss of ``model`` on ``(x, y)`` at its current weights.

    ``H`` is the Hessian with respect to the flat trainable weights (:func:`flat_weights`),
    ``v`` and ``H v`` have shape ``(P,)``. ``method`` is ``"central"`` (float64 models; ``step``
    defaults to :data:`CENTRAL_STEP`) or ``"complex"`` (:data:`COMPLEX_STEP`; Dense/Activation
    models with linear, tanh or sigmoid and a (half) mean squared error). ``training`` and
    ``batch_statistics`` are passed to ``model.gradient``. The model's weights are the same
    arrays before and after every call.
    """
    method = _validate.choice("method", method, ["central", "complex"])
    if getattr(model, "loss", None) is None or not hasattr(model, "gradient"):
        raise ValueError("model must be a compiled gdsim Sequential (model.compile(optimizer, loss))")
    if not model.built:
        model.build()  # from the first layer's input_shape (build says so if there is none)
    if method == "complex":
        if training or batch_statistics:
            raise ValueError("method='complex' supports training=False, batch_statistics=False only")
        return _complex_hvp(model, x, y, COMPLEX_STEP if step is None else _validate.positive("step", step))
    if model.dtype != np.float64:
        raise ValueError(f"model_hvp(method='central') needs a float64 model (rounding in "
                         f"{model.dtype} swamps the difference); build it with dtype='float64'")
    step = CENTRAL_STEP if step is None else _validate.positive("step", step)
    weights = model.trainable_weights
    base = flat_weights(model)
    dim = base.size

    def gradient_at(point: np.ndarray) -> np.ndarray:
        trial = _Weights(model)
        trial.install(_split(point, weights))
        try:
            _, grads = model.gradient(x, y, training=training, batch_statistics=batch_statistics)
        finally:
            trial.restore()
        return np.concatenate([np.ravel(g) for g in grads])

    def central(v: np.ndarray) -> np.ndarray:
        v = _vector(v, dim)
        norm = np.linalg.norm(v)
        if norm == 0:
            return np.zeros(dim)
        u = v / norm
        return (gradient_at(base + step * u) - gradient_at(base - step * u)) * (norm / (2 * step))

    return central


def _complex_layers(model: Any) -> list[Any]:
    """The model's layers if every op is holomorphic, else a ValueError naming the first that is not."""
    for layer in model.layers:
        activation = getattr(getattr(layer, "activation", None), "name", None)
        if type(layer) not in (Dense, Activation) or activation not in _HOLOMORPHIC:
            what = type(layer).__name__ + (f" with activation {activation!r}" if activation else "")
            raise ValueError(f"method='complex' needs holomorphic operations (Dense and Activation "
                             f"with {', '.join(_HOLOMORPHIC)}); layer {layer.name!r} is {what}")
    if type(model.loss) not in (MeanSquaredError, HalfMeanSquaredError):
        raise ValueError(f"method='complex' needs a (half) mean squared error loss, got {model.loss.name!r}")
    return list(model.layers)


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    return z


def _activation_grad(name: str, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return g * (1 - y * y)
    if name == "sigmoid":
        return g * y * (1 - y)
    return g


def _complex_gradient(layers: list[Any], loss: Any, weights: list[np.ndarray], x: np.ndarray,
                      y: np.ndarray) -> list[np.ndarray]:
    """dL/dw for complex weights by the layers' own backward formulas (no conjugates anywhere:
    the map stays holomorphic, so ``Im g(w + i h v) / h = H v``)."""
    records, k, out = [], 0, x.astype(np.complex128)
    for layer in layers:
        inp, kernel = out, None
        if isinstance(layer, Dense):
            own = weights[k:k + len(layer.trainable_weights)] if layer.trainable else layer.get_weights()
            k += len(layer.trainable_weights)
            kernel = own[0]
            out = inp @ kernel + (own[1] if layer.use_bias else 0)
        out = _activate(layer.activation.name, out)
        records.append((layer, inp, kernel, out))
    target = y.reshape(out.shape)
    # d(sum_i l_i / n)/dp with l = mean over the d outputs of (p - y)^2 (times 1/2 for the half MSE)
    g = (out - target) * ((2.0 if type(loss) is MeanSquaredError else 1.0) / out.size)
    grads: list[np.ndarray] = []
    for layer, inp, kernel, output in reversed(records):
        g = _activation_grad(layer.activation.name, output, g)
        if kernel is not None:
            inp2, g2 = inp.reshape(-1, inp.shape[-1]), g.reshape(-1, g.shape[-1])
            if layer.trainable:
                grads[:0] = [inp2.T @ g2] + ([g2.sum(axis=0)] if layer.use_bias else [])
            g = g @ kernel.T
    return grads


def _complex_hvp(model: Any, x: Any, y: Any, step: float) -> Matvec:
    layers = _complex_layers(model)
    xb = _validate.array("x", x, dtype=np.float64)
    yb = _validate.array("y", y, dtype=np.float64)
    if xb.ndim == 1:
        xb = xb[:, None]  # (N,) is one feature per sample, as in fit
    if model.input_shape is not None and xb.shape[1:] != tuple(model.input_shape):
        raise ValueError(f"x must have shape (batch, {', '.join(map(str, model.input_shape))}), got {xb.shape}")
    outputs = xb.shape[0] * int(np.prod(model.output_shape))
    if yb.size != outputs:
        raise ValueError(f"y must hold {outputs} targets (batch x {model.output_shape}), got shape {yb.shape}")
    weights = model.trainable_weights
    base = flat_weights(model)
    dim = base.size

    def complex_step(v: np.ndarray) -> np.ndarray:
        v = _vector(v, dim)
        trial = _split(base + 1j * step * v, weights)
        grads = _complex_gradient(layers, model.loss, trial, xb, yb)
        return np.concatenate([np.ravel(g) for g in grads]).imag / step

    return complex_step


# --------------------------------------------------------------------------- Lanczos

def _lanczos(matvec: Matvec, dim: int, seed: Any, iterations: int | None, k: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values (ascending) and vectors (dim, m) after m Lanczos steps, fully re-orthogonalised.
    A matvec that returns inf/NaN (the Hessian at a diverged point) gives NaN: divergence is
    data, as in :func:`sharpness_observer`."""
    _check_matvec(matvec)
    dim = _validate.integer("dim", dim, minimum=1)
    k = _validate.integer("k", k, minimum=1)
    if k > dim:
        raise ValueError(f"k must be <= dim={dim}, got {k}")
    m = min(dim, max(2 * k + 20, 30)) if iterations is None else _iterations(iterations)
    if m < k:
        raise ValueError(f"iterations must be >= k={k}, got {m}")
    m = min(m, dim)
    rng = np.random.default_rng(_validate.seed("seed", seed))
    q = rng.standard_normal(dim)
    basis = np.zeros((m, dim))
    basis[0] = q / np.linalg.norm(q)
    alpha, beta = np.zeros(m), np.zeros(m)
    size = m
    for j in range(m):
        w = np.asarray(matvec(basis[j]), dtype=np.float64)
        if w.shape != (dim,):
            raise ValueError(f"matvec must return shape ({dim},), got {w.shape}")
        if not np.isfinite(w).all():
            return np.full(k, np.nan), np.full((dim, k), np.nan)
        alpha[j] = basis[j] @ w
        # Full re-orthogonalisation, done twice ("twice is enough"): the Ritz values then
        # never repeat (no ghost eigenvalues) and match a dense eigensolver to rounding.
        for _ in range(2):
            w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        if j + 1 == m:
            break
        beta[j] = np.linalg.norm(w)
        if beta[j] <= 1e-12 * max(1.0, np.abs(alpha[:j + 1]).max()):
            size = j + 1  # an invariant subspace: its Ritz values are exact eigenvalues
            break
        basis[j + 1] = w / beta[j]
    t = np.diag(alpha[:size]) + np.diag(beta[:size - 1], 1) + np.diag(beta[:size - 1], -1)
    values, vectors = np.linalg.eigh(t)
    return values, basis[:size].T @ vectors


def _check_matvec(matvec: Any) -> None:
    if not callable(matvec) or isinstance(matvec, type):  # float(v) is a cast, not H v
        raise TypeError(f"matvec must be a function v -> H v, got {_validate.show(matvec)}")


def _iterations(iterations: Any) -> int | None:
    return None if iterations is None else _validate.integer("iterations", iterations, minimum=1)


def top_eigenvalues(matvec: Matvec, dim: int, k: int = 1, *, seed: Any = 0,
                    iterations: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues of the symmetric operator ``matvec`` on R^dim, by Lanczos.

    Returns ``(values (k,), vectors (dim, k))``, largest first, vectors of unit norm. The start
    vector is Gaussian from ``seed``; ``iterations`` Lanczos steps (default
    ``min(dim, max(2k + 20, 30))``) each cost one matvec. With ``iterations = dim`` the result
    is exact to rounding; fewer steps converge first on the ends of the spectrum.
    """
    values, vectors = _lanczos(matvec, dim, seed, iterations, k)
    if values.size < k:
        raise ValueError(f"the start vector spans an invariant subspace of dimension {values.size} < k={k}")
    order = np.argsort(values)[::-1][:k]
    return values[order], vectors[:, order]


def bottom_eigenvalue(matvec: Matvec, dim: int, *, seed: Any = 0,
                      iterations: int | None = None) -> tuple[float, np.ndarray]:
    """The smallest eigenvalue and its unit vector (negative near a saddle: the escape direction)."""
    values, vectors = _lanczos(matvec, dim, seed, iterations, 1)
    return float(values[0]), vectors[:, 0]


def sharpness(matvec: Matvec, dim: int, *, seed: Any = 0, iterations: int | None = None) -> float:
    """``lambda_max``: the top eigenvalue of ``matvec``."""
    return float(top_eigenvalues(matvec, dim, 1, seed=seed, iterations=iterations)[0][0])


# --------------------------------------------------------------------------- preconditioners

def _scalar_lr(optimizer: optim.Optimizer, iterations: int) -> float:
    lr = np.asarray(optimizer.current_learning_rate(iterations))
    if lr.ndim:
        raise ValueError("a learning-rate array (a sweep) has no single threshold: use a scalar learning_rate")
    return float(lr)


def preconditioner(optimizer: optim.Optimizer, state: optim.OptState) -> list[np.ndarray]:
    r"""The diagonal ``P`` of ``optimizer``'s current step ``w <- w - lr * P^-1 * (momentum or g)``.

    Keras's formulas (see :mod:`gdsim.optim`), with ``t = state.iterations`` completed steps:

    * Adam: ``P = (sqrt(v) + eps) / sqrt(1 - b2^t)`` (``v`` = ``vhat`` with amsgrad), so that
      the step is ``lr * mhat / P`` with ``mhat = m / (1 - b1^t)``;
    * RMSprop: ``P = sqrt(v + eps)`` (centered: ``sqrt(v - gbar^2 + eps)``).

    (SGD's is ``P = 1``: measure its plain sharpness.) One array per parameter, float64; needs
    ``t >= 1`` (before the first step ``v`` is still zero).
    """
    if not isinstance(optimizer, (optim.Adam, optim.RMSprop)):
        raise TypeError(f"optimizer must be Adam or RMSprop (SGD's preconditioner is 1), got "
                        f"{type(optimizer).__name__}")
    if not isinstance(state, optim.OptState):
        raise TypeError(f"state must be the optimizer's OptState (model.optimizer_state), got "
                        f"{_validate.show(state)}")
    t = int(state.iterations)
    if t < 1:
        raise ValueError("state has 0 completed steps: the preconditioner exists after the first step")
    if isinstance(optimizer, optim.Adam):
        v = state.slots["vhat" if optimizer.amsgrad else "v"]
        bias = np.sqrt(1.0 - float(optimizer.beta_2) ** t)
        return [(np.sqrt(np.asarray(a, np.float64)) + float(optimizer.epsilon)) / bias for a in v]
    v = [np.asarray(a, np.float64) for a in state.slots["velocity"]]
    if optimizer.centered:
        v = [a - np.square(np.asarray(gbar, np.float64)) for a, gbar in zip(v, state.slots["average_gradient"])]
    return [np.sqrt(a + float(optimizer.epsilon)) for a in v]


def preconditioned(matvec: Matvec, diagonal: Any) -> Matvec:
    """``v -> P^-1/2 H P^-1/2 v`` for a positive diagonal ``P`` (flat, or a list of arrays).
    Its top eigenvalue is that of ``P^-1 H``: the preconditioned sharpness."""
    _check_matvec(matvec)
    if isinstance(diagonal, (list, tuple)):
        if not diagonal:
            raise ValueError("diagonal must not be empty")
        diagonal = np.concatenate([np.ravel(_validate.array("diagonal", d, dtype=np.float64))
                                   for d in diagonal])
    p = _validate.array("diagonal", diagonal, dtype=np.float64, ndim=1)
    if np.any(p <= 0):
        raise ValueError("diagonal must be > 0 everywhere")
    scale = 1 / np.sqrt(p)
    return lambda v: scale * matvec(scale * np.asarray(v, dtype=np.float64))


def stability_threshold(optimizer: optim.Optimizer, iterations: int = 0) -> float:
    r"""The (preconditioned) sharpness above which the optimizer is unstable on a quadratic.

    * GD: ``2/lr``; heavy-ball momentum ``b`` (Keras SGD): ``(2 + 2b)/lr``; Nesterov:
      ``(2 + 2b)/(lr (1 + 2b))``;
    * RMSprop: ``2/lr`` (momentum ``b``: ``(2 + 2b)/lr``), for ``lambda_max(P^-1 H)``;
    * Adam: ``(2 + 2 b1)/((1 - b1) lr)`` for ``lambda_max(P^-1 H)``: 38/lr at b1 = 0.9
      (Cohen et al. 2022: the EMA momentum ``m = b1 m + (1-b1) g`` is heavy ball at rate
      ``(1-b1) lr``).

    ``lr`` is the learning rate at ``iterations`` (schedules allowed; sweeps are not).
    """
    if not isinstance(optimizer, (optim.SGD, optim.RMSprop, optim.Adam)):
        raise TypeError(f"optimizer must be SGD, RMSprop or Adam, got {_validate.show(optimizer)}")
    iterations = _validate.integer("iterations", iterations, minimum=0)
    lr = _scalar_lr(optimizer, iterations)
    if isinstance(optimizer, optim.Adam):
        b1 = float(optimizer.beta_1)
        return (2 + 2 * b1) / ((1 - b1) * lr)
    if isinstance(optimizer, (optim.SGD, optim.RMSprop)):
        b = float(optimizer.momentum)
        if isinstance(optimizer, optim.SGD) and optimizer.nesterov:
            return (2 + 2 * b) / (lr * (1 + 2 * b))
        return (2 + 2 * b) / lr
    raise TypeError(f"optimizer must be SGD, RMSprop or Adam, got {type(optimizer).__name__}")


# --------------------------------------------------------------------------- recording

def model_sharpness(model: Any, x: Any, y: Any, *, preconditioned_by: optim.OptState | None = None,
                    seed: Any = 0, iterations: int | None = 20, method: str = "central",
                    training: bool = False, batch_statistics: bool = False) -> float:
    """Top Hessian eigenvalue of the model's loss on ``(x, y)``; with ``preconditioned_by`` (the
    model's optimizer state) that of ``P^-1/2 H P^-1/2`` for ``model.optimizer``'s ``P``."""
    matvec = model_hvp(model, x, y, method=method, training=training, batch_statistics=batch_statistics)
    if preconditioned_by is not None:
        matvec = preconditioned(matvec, preconditioner(model.optimizer, preconditioned_by))
    return sharpness(matvec, flat_weights(model).size, seed=seed, iterations=iterations)


class SharpnessCallback(Callback):
    """Records the sharpness every ``every`` epochs of ``fit`` (full-batch: every ``every`` steps).

    Measured at the start of epoch ``e`` (weights after ``e`` updates when each epoch is one
    full batch -- the weights at which ``history["loss"][e]`` is computed) on ``(x, y)``, and at
    the end of training. ``preconditioned=True`` measures ``lambda_max(P^-1 H)`` with the
    optimizer's current preconditioner (Adam, RMSprop; skipped before the first step).

    Results: ``steps`` (the epochs measured), ``values``, and ``history["sharpness"]`` in the
    model's History, one entry per epoch (NaN where not measured), aligned with ``"loss"``.
    """

    def __init__(self, x: Any, y: Any, every: int = 20, *, preconditioned: bool = False,
                 seed: Any = 0, iterations: int | None = 20, method: str = "central",
                 batch_statistics: bool = False) -> None:
        self.x, self.y = x, y
        self.every = _validate.integer("every", every, minimum=1)
        self.preconditioned = _validate.boolean("preconditioned", preconditioned)
        # checked now, not at the first epoch's measurement
        _validate.seed("seed", seed)
        self.seed = seed
        self.iterations = _iterations(iterations)
        self.method = _validate.choice("method", method, ["central", "complex"])
        self.batch_statistics = _validate.boolean("batch_statistics", batch_statistics)
        self.steps: list[int] = []
        self.values: list[float] = []

    def _measure(self) -> float:
        state = self.model.optimizer_state
        if self.preconditioned and (state is None or int(state.iterations) == 0):
            return float("nan")
        return model_sharpness(self.model, self.x, self.y,
                               preconditioned_by=state if self.preconditioned else None,
                               seed=self.seed, iterations=self.iterations, method=self.method,
                               batch_statistics=self.batch_statistics)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.steps, self.values, self._pending = [], [], float("nan")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._pending = float("nan")
        if epoch % self.every == 0:
            self._pending = self._measure()
            self.steps.append(epoch)
            self.values.append(self._pending)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        history = getattr(self.model, "history", None)
        if history is not None:
            history.history.setdefault("sharpness", []).append(self._pending)

    def on_train_end(self, logs: dict | None = None) -> None:
        history = getattr(self.model, "history", None)
        final = len(history.epoch) if history is not None else None
        if final is not None and (not self.steps or self.steps[-1] != final):
            self.steps.append(final)
            self.values.append(self._measure())


def sharpness_observer(problem: Any, *, seed: Any = 0, iterations: int | None = None
                       ) -> Callable[[np.ndarray, optim.OptState], np.ndarray]:
    """An ``observe=`` entry for :func:`gdsim.simulate.run`: ``(params (*runs, d), state) ->
    lambda_max (*runs,)`` of ``problem``'s Hessian at every run's point, by Lanczos on the
    exact Hessian-vector product (non-finite points give NaN)."""
    for attr in ("dim", "grad"):  # checked now, not at the first recorded step
        if not hasattr(problem, attr):
            raise TypeError(f"problem must be a surface or problem (dim, grad), got {type(problem).__name__}")
    _validate.seed("seed", seed)
    iterations = _iterations(iterations)

    def observe(params: np.ndarray, state: optim.OptState) -> np.ndarray:
        points = np.asarray(params, dtype=np.float64).reshape(-1, problem.dim)
        out = np.full(points.shape[0], np.nan)
        for r, point in enumerate(points):
            if np.isfinite(point).all():
                out[r] = sharpness(problem_hvp(problem, point), problem.dim, seed=seed,
                                   iterations=iterations)
        return out.reshape(np.shape(params)[:-1])

    return observe
