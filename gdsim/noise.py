"""Gradient oracles: what the optimizer sees instead of the true gradient.

* :class:`Exact` -- ``grad f(w)`` (plain gradient descent).
* :class:`Gaussian` -- ``grad f(w) + scale * C^{1/2} z``, ``z ~ N(0, I)``: injected noise,
  isotropic or with a covariance ``C``; ``scale`` may be an array over the runs axes.
* :class:`Minibatch` -- the gradient of the loss on a sampled batch of a finite-sum problem
  (``gdsim.problems``): Keras-style per-epoch reshuffling with the last partial batch kept,
  sequential batches (``shuffle=False``), or sampling with replacement.

Oracles hold configuration (``start`` binds one to the runs shape of the simulation about to
run, so use one oracle object for one simulation at a time). Their randomness comes from one ``numpy.random.Generator``
*per run*, handed in by the simulator, so the random numbers of run ``r`` depend on run
``r``'s seed alone: a run gives the same bits alone or inside a batch of 10,000.

Draws are made in chunks of steps (``draw``), then used one step at a time (``gradient``).
Every draw is *chunk-independent*: splitting the steps into chunks differently consumes each
run's generator identically (``standard_normal`` and ``random`` fill sequentially; a
permutation is drawn once per epoch as the argsort of ``n`` uniform keys; the epoch in
progress at a chunk boundary is carried over as an array). So a resumed checkpoint, or a
different chunk size, gives the same bits.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from gdsim import _validate

__all__ = ["Oracle", "Exact", "Gaussian", "Minibatch", "get"]

Chunk = Any
Carry = dict[str, np.ndarray]


def _runs_cast(name: str, value: Any, run_shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """A scalar, or an array over the leading runs axes reshaped to broadcast over (..., d)."""
    if not isinstance(value, np.ndarray):
        return dtype.type(value)
    if value.ndim > len(run_shape) or any(a != b and a != 1 for a, b in zip(value.shape, run_shape)):
        raise ValueError(f"{name} has shape {value.shape}, which is not a prefix of the runs shape "
                         f"{run_shape} (size 1 broadcasts)")
    return value.astype(dtype).reshape(value.shape + (1,) * (len(run_shape) - value.ndim + 1))


class Oracle:
    """Base class. Subclasses implement ``draw`` and ``gradient``.

    ``start(problem, run_shape, dim, dtype) -> carry`` checks the problem and returns the
    arrays carried between chunks (saved in checkpoints); ``draw(rngs, start, n_steps, carry)
    -> (chunk, carry)`` draws the randomness for steps ``start .. start+n_steps-1`` from
    ``rngs`` (one Generator per run, runs flattened in C order); ``gradient(problem, params,
    chunk, k)`` is the gradient for the k-th step of the chunk, params of shape (*runs, d).
    """

    uses_rng = True

    def start(self, problem: Any, run_shape: tuple[int, ...], dim: int, dtype: np.dtype) -> Carry:
        return {}

    def draw(self, rngs: Sequence[np.random.Generator], start: int, n_steps: int,
             carry: Carry) -> tuple[Chunk, Carry]:
        return None, carry

    def gradient(self, problem: Any, params: np.ndarray, chunk: Chunk, k: int) -> np.ndarray:
        raise NotImplementedError

    def draw_size(self, dim: int) -> int:
        """Numbers drawn per run per step (the simulator sizes its chunks with it)."""
        return 0

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            return f"array(shape={v.shape})" if isinstance(v, np.ndarray) else repr(v)
        return f"{type(self).__name__}({', '.join(f'{k}={show(v)}' for k, v in self.get_config().items())})"


class Exact(Oracle):
    """The exact gradient ``grad f(w)``: gradient descent without noise."""

    uses_rng = False

    def gradient(self, problem, params, chunk, k):
        return problem.grad(params)


class Gaussian(Oracle):
    r"""``g = grad f(w) + scale * C^{1/2} z`` with ``z ~ N(0, I_d)`` fresh at every step.

    Args:
        scale: >= 0, or an array over the leading runs axes (e.g. shape ``(S, 1)`` for a grid
            of S noise scales x L learning rates with runs shape ``(S, L)``).
        covariance: optional ``(d, d)`` symmetric positive semi-definite ``C`` (default ``I``);
            its symmetric square root is applied with elementwise multiply-adds (no BLAS) so
            results do not depend on the number of runs.

    The normals are drawn in float64 whatever the parameter dtype (then cast), so float32 and
    float64 simulations see the same noise stream.
    """

    def __init__(self, scale: Any = 1.0, covariance: Any = None) -> None:
        if np.ndim(scale) == 0 and not isinstance(scale, np.ndarray):
            self.scale: Any = _validate.nonnegative("scale", scale)
        else:
            arr = _validate.array("scale", scale, dtype=np.float64)
            if np.any(arr < 0):
                raise ValueError(f"scale must be >= 0, got minimum {arr.min()}")
            self.scale = arr
        self.covariance = None
        self._root = None
        if covariance is not None:
            c = _validate.array("covariance", covariance, dtype=np.float64, ndim=2)
            if c.shape[0] != c.shape[1] or not np.allclose(c, c.T, rtol=1e-12, atol=0):
                raise ValueError(f"covariance must be a symmetric (d, d) matrix, got shape {c.shape}")
            lam, vec = np.linalg.eigh(c)
            if lam.min() < -1e-12 * max(1.0, abs(lam.max())):
                raise ValueError(f"covariance must be positive semi-definite, got eigenvalue {lam.min():.3g}")
            self.covariance = c
            self._root = (vec * np.sqrt(np.clip(lam, 0, None))) @ vec.T

    def get_config(self):
        return {"scale": self.scale, "covariance": self.covariance}

    def draw_size(self, dim):
        return dim

    def start(self, problem, run_shape, dim, dtype):
        if self._root is not None and self._root.shape != (dim, dim):
            raise ValueError(f"covariance has shape {self._root.shape} but the problem has dim {dim}")
        _runs_cast("scale", self.scale, run_shape, dtype)  # validate the shape early
        self._shape = (run_shape, dim, dtype)
        return {}

    def draw(self, rngs, start, n_steps, carry):
        run_shape, dim, dtype = self._shape
        buf = np.empty((len(rngs), n_steps, dim))
        for r, rng in enumerate(rngs):
            rng.standard_normal(out=buf[r])
        z = np.moveaxis(buf.reshape(run_shape + (n_steps, dim)), -2, 0)
        if self._root is not None:
            root = self._root
            z = sum((root[:, j] * z[..., j:j + 1] for j in range(1, dim)), root[:, 0] * z[..., 0:1])
        return z.astype(dtype, copy=False), carry

    def gradient(self, problem, params, chunk, k):
        run_shape, _, dtype = self._shape
        scale = _runs_cast("scale", self.scale, run_shape, dtype)
        return problem.grad(params) + scale * chunk[k]


class Minibatch(Oracle):
    """The gradient on a minibatch of a finite-sum problem (needs ``n_samples`` and
    ``grad(params, idx)``, e.g. :class:`gdsim.problems.LinearRegression`).

    * ``replace=False, shuffle=True`` (Keras ``fit(shuffle=True)``): each epoch a fresh
      permutation of the n samples per run, cut into ``ceil(n / batch_size)`` batches; the last
      partial batch is kept, as Keras does (n=70, B=32 -> batches of 32, 32, 6).
    * ``shuffle=False``: the same sequential batches every epoch (no randomness).
    * ``replace=True``: every step ``batch_size`` indices drawn uniformly with replacement
      (``floor(u * n)`` from uniform doubles; bias below ``n / 2**53``).

    A step is one batch, so ``steps`` in the simulator counts batches, not epochs. The
    permutation is the argsort of n uniform keys (a uniform random permutation), not NumPy's
    ``permutation``: it does not reproduce Keras's JAX-backend shuffle order, and need not.
    """

    def __init__(self, batch_size: int = 32, shuffle: bool = True, replace: bool = False) -> None:
        self.batch_size = _validate.integer("batch_size", batch_size, minimum=1)
        self.shuffle = _validate.boolean("shuffle", shuffle)
        self.replace = _validate.boolean("replace", replace)
        self.uses_rng = self.shuffle or self.replace

    def get_config(self):
        return {"batch_size": self.batch_size, "shuffle": self.shuffle, "replace": self.replace}

    def draw_size(self, dim):
        return 2 * self.batch_size

    def steps_per_epoch(self, n_samples: int) -> int:
        """Batches per epoch: ``ceil(n / batch_size)`` (1 with replacement: no epochs)."""
        return 1 if self.replace else math.ceil(n_samples / self.batch_size)

    def batch_sizes(self, n_samples: int) -> np.ndarray:
        """The sizes of the batches of one epoch."""
        if self.replace:
            return np.array([self.batch_size])
        b = min(self.batch_size, n_samples)
        spe = self.steps_per_epoch(n_samples)
        sizes = np.full(spe, b)
        sizes[-1] = n_samples - b * (spe - 1)
        return sizes

    def start(self, problem, run_shape, dim, dtype):
        n = getattr(problem, "n_samples", None)
        if n is None or not hasattr(problem, "grad"):
            raise TypeError(f"Minibatch needs a finite-sum problem with n_samples and grad(params, idx), "
                            f"got {type(problem).__name__}")
        self._n = int(n)
        self._runs = run_shape
        if self.shuffle and not self.replace:
            return {"perm": np.zeros((int(np.prod(run_shape, dtype=np.int64)), self._n), dtype=np.int64)}
        return {}

    def draw(self, rngs, start, n_steps, carry):
        n, B = self._n, self.batch_size
        N = int(np.prod(self._runs, dtype=np.int64))
        if self.replace:
            keys = np.empty((N, n_steps, B))
            for r, rng in enumerate(rngs):
                rng.random(out=keys[r])
            idx = np.minimum(np.floor(keys * n).astype(np.int64), n - 1)
            idx = np.moveaxis(idx.reshape(self._runs + (n_steps, B)), -2, 0)
            return (idx, np.full(n_steps, B)), carry
        spe = self.steps_per_epoch(n)
        sizes_epoch = self.batch_sizes(n)
        b = min(B, n)
        steps = np.arange(start, start + n_steps)
        j = steps % spe
        sizes = sizes_epoch[j]
        if not self.shuffle:
            order = np.broadcast_to(np.arange(n), (N, n))
            idx = np.stack([_pad(order[:, jj * b: jj * b + s], b) for jj, s in zip(j, sizes)])
            return (idx.reshape((n_steps,) + self._runs + (b,)), sizes), carry
        # one permutation per run for every epoch that starts inside this chunk
        new_epochs = int(np.count_nonzero(j == 0))
        if new_epochs:
            keys = np.empty((N, new_epochs, n))
            for r, rng in enumerate(rngs):
                rng.random(out=keys[r])
            perms = np.argsort(keys, axis=-1, kind="stable")
        perm = carry["perm"]
        batches = []
        e = -1
        for jj, s in zip(j, sizes):
            if jj == 0:
                e += 1
                perm = perms[:, e]
            batches.append(_pad(perm[:, jj * b: jj * b + s], b))
        idx = np.stack(batches).reshape((n_steps,) + self._runs + (b,))
        return (idx, sizes), {"perm": np.ascontiguousarray(perm)}

    def gradient(self, problem, params, chunk, k):
        idx, sizes = chunk
        return problem.grad(params, idx[k][..., :sizes[k]])


def _pad(block: np.ndarray, width: int) -> np.ndarray:
    if block.shape[-1] == width:
        return block
    out = np.zeros(block.shape[:-1] + (width,), dtype=block.dtype)
    out[..., :block.shape[-1]] = block
    return out


def get(identifier: Any) -> Oracle:
    """``None`` or ``"exact"`` -> :class:`Exact`; an :class:`Oracle` is returned as is."""
    if identifier is None:
        return Exact()
    if isinstance(identifier, Oracle):
        return identifier
    _validate.choice("noise", identifier, ["exact"])
    return Exact()
