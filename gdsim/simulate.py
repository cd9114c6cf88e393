"""Run an optimizer on a surface or problem for many starts, learning rates and seeds at once.

::

    from gdsim import optim, noise, simulate, surfaces
    lrs = np.geomspace(1e-3, 1, 100)                        # runs axis of length 100
    traj = simulate.run(surfaces.get("rosenbrock"), optim.Adam(learning_rate=lrs),
                        x0=np.tile([-1.5, 2.0], (100, 1)), steps=1000,
                        noise=noise.Gaussian(0.1), seed=0, record=10)
    traj.loss          # (101, 100): loss every 10 steps for each learning rate

**Runs.** ``x0`` has shape ``(*runs, d)``; every leading axis is a runs axis, and optimizer
hyper-parameters / noise scales given as arrays broadcast over them (see ``gdsim.optim``).

**Bit-reproducibility.** A vectorized run equals, bit for bit, the same run done alone:

* run ``r`` (its flat C-order index, or ``run_ids[r]`` if given) draws its random numbers
  from its own ``Generator(PCG64(SeedSequence(seed, spawn_key=(run_id,))))`` -- the same as
  ``SeedSequence(seed).spawn(N)[run_id]`` -- and from nothing else;
* every operation on the runs is elementwise or a reduction along a contiguous last axis, so
  its result for one run does not depend on the others (no BLAS).

To reproduce run ``i`` of a batch alone, pass its start, its own (scalar) hyper-parameters and
its id: ``run(problem, optim.Adam(learning_rate=lrs[i]), x0[i], steps, noise=noise.Gaussian(0.1),
seed=0, run_ids=i)``; the result equals ``traj.params[:, i]``.

**Divergence is data.** Overflow/NaN warnings are silenced inside the loop; ``diverged_at``
gives, per run, the first step whose parameters are not finite (-1 if none).

**Checkpoints.** ``checkpoint=PATH, checkpoint_every=N`` writes the whole simulation state
(parameters, optimizer state, each run's bit-generator state, the noise carry, the trajectory
so far) to an ``.npz`` atomically (gdsim's one state-file format, :mod:`gdsim._statefile`)
every N steps and at the end; ``resume=PATH`` continues from
it with identical bits. The arguments must match those of the checkpointed run (checked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Sequence

import numpy as np

from gdsim import _io, _overflow, _statefile, _validate, noise as noise_module, optim

__all__ = ["Trajectory", "run", "run_generators"]

#: Random numbers held in memory per chunk (float64 entries); chunking never changes results.
CHUNK_BUDGET = 1 << 22
#: The most steps one call runs (a float64 step counter stays exact far beyond it).
MAX_STEPS = 10**12
#: Bytes one run's Generator (PCG64 + SeedSequence) takes, for the up-front memory estimate.
GENERATOR_BYTES = 2048


def _memory_estimate(recorded: int, n_runs: int, dim: int, itemsize: int, uses_rng: bool) -> int:
    """Bytes a call will hold: the trajectory (params, loss, grad norm at every recorded
    step), ~8 working copies of the parameters (optimizer slots, gradients), each run's
    generator, and one chunk of random numbers. In Python ints: exact however huge (a
    ``steps`` of 10**400 is refused with its estimate, not an OverflowError)."""
    return (int(recorded) * n_runs * (dim + 2) * itemsize + 8 * n_runs * dim * itemsize
            + (n_runs * GENERATOR_BYTES if uses_rng else 0) + CHUNK_BUDGET * 8)


@dataclasses.dataclass
class Trajectory:
    """The recorded history of a batch of runs.

    Attributes:
        steps: (K,) the recorded step numbers (0 is ``x0``; the last is ``steps``).
        params: (K, *runs, d) parameters after ``steps[k]`` updates.
        loss: (K, *runs) exact loss ``problem.value`` at those parameters.
        grad_norm: (K, *runs) Euclidean norm of the exact gradient ``problem.grad`` there.
        diverged_at: (*runs,) first step whose parameters are non-finite; -1 if never.
        run_ids: (*runs,) the id that seeds each run's generator.
        seed: the root seed entropy (an int); with ``run_ids`` it reproduces every run.
        config: the optimizer, noise and problem descriptions and the dtype.
        observed: ``{name: (K, *runs)}``, what each ``observe=`` function returned at the
            recorded steps (e.g. the sharpness, :func:`gdsim.curvature.sharpness_observer`).
    """

    steps: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    diverged_at: np.ndarray
    run_ids: np.ndarray
    seed: int
    config: dict[str, Any]
    observed: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def final_params(self) -> np.ndarray:
        return self.params[-1]

    @property
    def final_loss(self) -> np.ndarray:
        return self.loss[-1]

    @property
    def diverged(self) -> np.ndarray:
        """(*runs,) bool: the parameters became non-finite at some step."""
        return self.diverged_at >= 0


def run_generators(seed: Any, run_ids: np.ndarray) -> list[np.random.Generator]:
    """One Generator per run: ``PCG64(SeedSequence(seed, spawn_key=(run_id,)))``, flattened in
    C order. ``seed`` is an int >= 0 or a SeedSequence (its spawn key is extended)."""
    root = _validate.seed("seed", seed)
    base = tuple(root.spawn_key)
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(root.entropy, spawn_key=base + (int(i),))))
            for i in np.asarray(run_ids).ravel()]


def _named(rngs: Sequence[np.random.Generator]) -> dict[str, np.random.BitGenerator]:
    """The runs' bit generators by name (``run<flat index>``), as state files store them."""
    return {f"run{r}": rng.bit_generator for r, rng in enumerate(rngs)}


def _norm_last(g: np.ndarray) -> np.ndarray:
    total = g[..., 0] * g[..., 0]
    for j in range(1, g.shape[-1]):
        total = total + g[..., j] * g[..., j]
    return np.sqrt(total)


def _record_count(record: Any, steps: int) -> int:
    """How many steps ``record`` keeps, without building the list (it may be huge)."""
    if isinstance(record, str):
        kind = _validate.choice("record", record, ["all", "final"])
        return steps + 1 if kind == "all" else 1
    every = _validate.integer("record", record, minimum=1)
    return steps // every + 1 + (steps % every != 0)


def _record_steps(record: Any, steps: int) -> np.ndarray:
    if isinstance(record, str):
        kind = _validate.choice("record", record, ["all", "final"])
        return np.arange(steps + 1) if kind == "all" else np.array([steps])
    every = _validate.integer("record", record, minimum=1)
    recorded = np.arange(0, steps + 1, every)
    return recorded if recorded[-1] == steps else np.append(recorded, steps)


def _fingerprint(problem: Any, optimizer: optim.Optimizer, oracle: noise_module.Oracle, **extra: Any) -> str:
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, np.ndarray):
            h.update(str((value.dtype, value.shape)).encode())
            h.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, dict):
            for k in sorted(value):
                h.update(str(k).encode())
                feed(value[k])
        elif hasattr(value, "get_config"):
            h.update(type(value).__name__.encode())
            feed(value.get_config())
        else:
            h.update(repr(value).encode())

    feed({"problem": repr(problem), "optimizer": optimizer, "noise": oracle, "extra": extra})
    for name in ("x", "y"):  # finite-sum data, when present
        if isinstance(getattr(problem, name, None), np.ndarray):
            feed(getattr(problem, name))
    return h.hexdigest()


def _check_saved(path: Any, saved: dict, shapes: dict) -> None:
    """A checkpoint's arrays have this run's shapes (checked before anything is used)."""
    for key, expected in {"sim/step": (), **shapes}.items():
        if key not in saved or saved[key].shape != tuple(expected):
            found = saved[key].shape if key in saved else "missing"
            raise ValueError(f"checkpoint {os.fspath(path)!r} is damaged: {key} is {found}, "
                             f"expected shape {tuple(expected)}")


def run(problem: Any, optimizer: Any, x0: Any, steps: int, noise: Any = None, seed: Any = 0,
        dtype: Any = "float64", record: Any = "all", run_ids: Any = None,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
        resume: str | os.PathLike | None = None, observe: dict[str, Any] | None = None) -> Trajectory:
    """Run ``optimizer`` on ``problem`` from every start in ``x0`` for ``steps`` updates.

    Args:
        problem: a surface or problem: ``dim``, ``value(x)``, ``grad(x)`` on (..., dim).
        optimizer: a :class:`gdsim.optim.Optimizer` or a Keras name (``"adam"``).
        x0: (*runs, dim) starting points (a single (dim,) start is one run).
        steps: number of updates (>= 0).
        noise: a :mod:`gdsim.noise` oracle; ``None`` = exact gradients.
        seed: int >= 0 (or SeedSequence); each run's generator is spawned from it by run id.
        dtype: "float64" (default) or "float32" (Keras's float32 arithmetic).
        record: "all" (every step), "final", or an int k (every k steps, plus the last).
            Memory: (recorded steps) x N x d numbers, e.g. 160 MB for "all" with 10,000
            2-D runs of 1,000 float64 steps; use "final" or k for big sweeps.
        run_ids: (*runs,) ints seeding each run (default ``arange(N).reshape(runs)``).
        checkpoint, checkpoint_every: write the state to this .npz every N steps and at the end.
        resume: continue from a checkpoint written by an identical call.
        observe: ``{name: f}`` with ``f(params (*runs, d), state) -> (*runs,)``, called at every
            recorded step (before that step's update, with the optimizer state then); the values
            go to ``Trajectory.observed[name]``.

    Returns:
        :class:`Trajectory`.
    """
    optimizer = optim.get(optimizer)
    oracle = noise_module.get(noise)
    for attr in ("dim", "value", "grad"):
        if not hasattr(problem, attr):
            raise TypeError(f"problem must have dim, value and grad (a surface or problem), got "
                            f"{type(problem).__name__} without {attr!r}")
    dtype = _validate.float_dtype("dtype", dtype)
    steps = _validate.integer("steps", steps, minimum=0)
    x = _validate.array("x0", x0, dtype=dtype)
    if x.ndim == 0 or x.shape[-1] != problem.dim:
        raise ValueError(f"x0 must have shape (*runs, {problem.dim}), got {x.shape}")
    runs = x.shape[:-1]
    n_runs = int(np.prod(runs, dtype=np.int64))
    # before anything of the runs' size is made; a huge `steps` recorded in full is refused
    # here too, with the estimate and the limit
    _validate.memory("x0" if n_runs > 1 else "steps",
                     _memory_estimate(_record_count(record, steps), n_runs, problem.dim,
                                      dtype.itemsize, oracle.uses_rng),
                     f"{_validate.count(n_runs)} run(s) of {_validate.count(steps)} steps recording "
                     f"{_validate.count(_record_count(record, steps))} of them")
    if run_ids is None:
        ids = np.arange(n_runs, dtype=np.int64).reshape(runs)
    else:
        ids = _validate.array("run_ids", run_ids)
        if not np.issubdtype(ids.dtype, np.integer) or (ids.size and ids.min() < 0):
            raise ValueError(f"run_ids must be integers >= 0, got {_validate.show(ids)}")
        if ids.size and int(ids.max()) > np.iinfo(np.int64).max:  # uint64 would wrap negative
            raise ValueError(f"run_ids must be <= 2**63 - 1, got {_validate.show(int(ids.max()))}")
        if ids.shape != runs:
            raise ValueError(f"run_ids must have the runs shape {runs}, got {ids.shape}")
        ids = ids.astype(np.int64)
    root = _validate.seed("seed", seed)
    if steps > MAX_STEPS:
        raise ValueError(f"steps must be <= {MAX_STEPS:,} (one call's limit), got {_validate.show(steps)}")
    recorded = _record_steps(record, steps)
    observe = dict(observe or {})
    for name, function in observe.items():
        if not isinstance(name, str) or not callable(function):
            raise TypeError(f"observe must map names to functions f(params, state), got "
                            f"{_validate.show({name: function})}")
    if checkpoint is not None:  # checked before any work: a folder, '' or a read-only place
        checkpoint = _validate.writable_file("checkpoint", checkpoint)
        if checkpoint_every is None:
            raise ValueError("checkpoint_every is required with checkpoint")
        checkpoint_every = _validate.integer("checkpoint_every", checkpoint_every, minimum=1)
    elif checkpoint_every is not None:
        raise ValueError("checkpoint_every needs checkpoint=PATH")
    if resume is not None:
        resume = _validate.readable_file("resume", resume)

    rngs = run_generators(root, ids) if oracle.uses_rng else []
    carry = oracle.start(problem, runs, problem.dim, dtype)
    fingerprint = _fingerprint(problem, optimizer, oracle, runs=runs, dtype=str(dtype), steps=steps,
                               record=recorded, ids=ids, entropy=root.entropy, spawn=tuple(root.spawn_key),
                               x0=x, observe=sorted(observe))

    K = recorded.size
    traj_params = np.full((K,) + runs + (problem.dim,), np.nan, dtype=dtype)
    traj_loss = np.full((K,) + runs, np.nan, dtype=dtype)
    traj_gnorm = np.full((K,) + runs, np.nan, dtype=dtype)
    diverged_at = np.full(runs, -1, dtype=np.int64)
    observed = {name: np.full((K,) + runs, np.nan) for name in observe}
    params = x
    state = optimizer.init(params)
    step = 0
    signature = {"fingerprint": fingerprint}
    for path in {os.fspath(p) for p in (checkpoint, resume) if p is not None}:
        _io.remove_orphans(path)  # a killed writer's temporaries, also when nothing is saved
    if resume is not None:
        try:
            saved, streams = _statefile.read(
                resume, "simulate", signature,
                mismatch="is not a checkpoint of this simulation (different problem, optimizer, "
                         "noise, x0 shape, dtype, steps, record, run ids or seed)")
        except ValueError as exc:
            raise ValueError(f"resume: {exc}") from None
        _check_saved(resume, saved, {"params": x.shape, "traj/params": traj_params.shape,
                                     "traj/loss": traj_loss.shape, "diverged_at": runs})
        step = int(saved["sim/step"])
        params = saved["params"].astype(dtype, copy=False)
        state = optim.OptState.from_arrays(saved, prefix="opt/")
        diverged_at = saved["diverged_at"]
        traj_params, traj_loss, traj_gnorm = saved["traj/params"], saved["traj/loss"], saved["traj/grad_norm"]
        observed = {name: saved[f"traj/observed/{name}"] for name in observe}
        carry = {k[len("noise/"):]: v for k, v in saved.items() if k.startswith("noise/")}
        _statefile.restore_rngs(resume, streams, _named(rngs))

    def save() -> None:
        arrays = {"sim/step": np.array(step, dtype=np.int64), "params": params,
                  "diverged_at": diverged_at, "traj/params": traj_params, "traj/loss": traj_loss,
                  "traj/grad_norm": traj_gnorm}
        arrays.update({f"traj/observed/{name}": values for name, values in observed.items()})
        arrays.update(state.to_arrays(prefix="opt/"))
        arrays.update({f"noise/{k}": v for k, v in carry.items()})
        _statefile.write(checkpoint, "simulate", signature, arrays, _named(rngs))

    record_index = {int(s): i for i, s in enumerate(recorded)}
    exact = isinstance(oracle, noise_module.Exact)
    chunk_len = max(1, CHUNK_BUDGET // max(1, n_runs * max(1, oracle.draw_size(problem.dim))))
    run_ndim = len(runs)

    def record_at(s: int, g_exact: np.ndarray | None) -> None:
        i = record_index.get(s)
        if i is None:
            return
        traj_params[i] = params
        traj_loss[i] = problem.value(params)
        traj_gnorm[i] = _norm_last(problem.grad(params) if g_exact is None else g_exact)
        for name, function in observe.items():
            observed[name][i] = function(params, state)

    with _overflow.overflow_is_data():
        while step < steps:
            end = min(steps, step + chunk_len)
            if checkpoint is not None:
                end = min(end, (step // checkpoint_every + 1) * checkpoint_every)
            chunk, carry = oracle.draw(rngs, step, end - step, carry)
            for k in range(end - step):
                g = oracle.gradient(problem, params, chunk, k)
                record_at(step, g if exact else None)
                params, state = optimizer.step(params, g, state, run_ndim=run_ndim)
                step += 1
                bad = ~np.isfinite(params).all(axis=-1)
                diverged_at = np.where(bad & (diverged_at < 0), step, diverged_at)
            if checkpoint is not None and step % checkpoint_every == 0 and step < steps:
                save()
        if step == steps:
            record_at(steps, None)
        if checkpoint is not None:
            save()

    return Trajectory(steps=recorded, params=traj_params, loss=traj_loss, grad_norm=traj_gnorm,
                      diverged_at=diverged_at, run_ids=ids, seed=root.entropy, observed=observed,
                      config={"optimizer": repr(optimizer), "noise": repr(oracle), "problem": repr(problem),
                              "dtype": str(dtype), "spawn_key": tuple(root.spawn_key)})
