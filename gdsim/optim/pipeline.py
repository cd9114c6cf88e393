"""Optimizers as pure ``(init, step)`` pairs over NumPy arrays, with Keras 3's formulas.

An optimizer owns hyper-parameters, never parameters::

    opt = Adam(learning_rate=0.01)
    state = opt.init(params)                       # OptState: iterations + slot arrays
    params, state = opt.step(params, grads, state)  # pure: inputs are never mutated

``params`` is one array or a list of arrays (a list in gives a list out).

**Keras parity.** Every update is the one in ``keras/src/optimizers/<name>.py`` (Keras 3),
term for term and in the same order of floating-point operations. Arithmetic happens in each
parameter's own dtype: hyper-parameters are cast to it (Keras casts them to the variable
dtype, and Python scalars such as ``1 - beta_1`` are formed in double precision first, then
cast, like JAX's weakly typed scalars), so float32 parameters stay float32 end to end and
agree with Keras float32 to about 1e-7 relative per step. One difference: Keras stores a
float learning rate as a ``floatx`` variable, so float64 parameters under Keras's default
float32 ``floatx`` see ``lr = float32(0.01)``; gdsim uses the exact ``0.01``.

**One step** (Keras's ``BaseOptimizer.apply``): the learning rate is evaluated at the
*current* ``iterations`` (a schedule sees 0 on the first step) -> gradients clipped
(``clipnorm`` per parameter, or ``global_clipnorm`` over all, or ``clipvalue``) ->
decoupled weight decay ``w <- w - w*weight_decay*lr`` -> the update rule ->
``iterations += 1``.

**Many runs at once.** Any hyper-parameter may be an array of shape ``S`` whose axes are the
leading "runs" axes of every parameter: it applies to a parameter of shape ``S + rest`` as if
trailing singleton axes were appended, so ``SGD(learning_rate=np.geomspace(1e-4, 1, 1000))``
advances params of shape ``(1000, d)`` -- 1,000 learning rates in one call, each run's
arithmetic identical to running it alone. The norms used by ``clipnorm``/``global_clipnorm``
are then taken per run (over the axes after the ``run_ndim`` leading ones).

**Friendlier than Keras where it costs nothing:** Python ints are accepted for every
hyper-parameter (Keras raises for ``SGD(momentum=0)`` and ``learning_rate=1``). Not supported:
``use_ema``, ``gradient_accumulation_steps``, ``loss_scale_factor`` and
``exclude_from_weight_decay`` (weight decay applies to every parameter).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from typing import Any, Callable, Union

import numpy as np

from gdsim import _io, _validate

Params = Union[np.ndarray, list[np.ndarray]]
Hyper = Union[float, np.ndarray]

__all__ = ["Params", "OptState", "Optimizer", "SGD", "GD", "Adam", "RMSprop", "Adagrad", "get"]


# ----------------------------------------------------------------------------- state

@dataclasses.dataclass
class OptState:
    """Optimizer state: completed steps and per-parameter slot arrays.

    Attributes:
        iterations: int64 0-d array, the number of completed steps (Keras
            ``optimizer.iterations``).
        slots: ``{slot name: [one array per parameter]}``, e.g. ``{"m": [...], "v": [...]}``
            for Adam; each array has its parameter's shape and dtype.
    """

    iterations: np.ndarray
    slots: dict[str, list[np.ndarray]]

    def to_arrays(self, prefix: str = "opt/") -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` view (``prefix + "iterations"``, ``prefix + "slot/i"``)."""
        out = {prefix + "iterations": np.asarray(self.iterations, dtype=np.int64)}
        for name, arrays in self.slots.items():
            for i, a in enumerate(arrays):
                out[f"{prefix}{name}/{i}"] = a
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "opt/") -> "OptState":
        """Inverse of :meth:`to_arrays`; keys not starting with ``prefix`` are ignored."""
        key = prefix + "iterations"
        if key not in arrays:
            raise ValueError(f"optimizer state arrays have no {key!r} entry")
        iterations = np.asarray(arrays[key])
        if iterations.shape != () or not np.issubdtype(iterations.dtype, np.integer):
            raise ValueError(f"{key} must be a 0-d integer array, got shape {iterations.shape} "
                             f"dtype {iterations.dtype}")
        found: dict[str, dict[int, np.ndarray]] = {}
        for name, value in arrays.items():
            if not name.startswith(prefix) or name == key:
                continue
            slot, sep, index = name[len(prefix):].rpartition("/")
            if not sep or not index.isdigit():
                raise ValueError(f"unrecognized optimizer state entry {name!r}")
            found.setdefault(slot, {})[int(index)] = np.asarray(value)
        slots = {}
        for slot, by_index in found.items():
            if sorted(by_index) != list(range(len(by_index))):
                raise ValueError(f"optimizer slot {slot!r} has non-contiguous indices {sorted(by_index)}")
            slots[slot] = [by_index[i] for i in range(len(by_index))]
        counts = {len(v) for v in slots.values()}
        if len(counts) > 1:
            raise ValueError(f"optimizer slots have different parameter counts: "
                             f"{ {k: len(v) for k, v in slots.items()} }")
        return cls(iterations=iterations.astype(np.int64), slots=slots)

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to ``path`` (.npz, no pickle) atomically: a reader sees the old
        file or the new one, never a torn write."""
        _io.save_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OptState":
        """Read a state written by :meth:`save`; a truncated, corrupt or foreign file raises
        ``ValueError`` naming ``path``."""
        arrays = _io.load_npz(path)
        try:
            return cls.from_arrays(arrays)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a gdsim optimizer state: {exc}") from None

    def __eq__(self, other: object) -> bool:  # dataclass eq would compare arrays ambiguously
        if not isinstance(other, OptState):
            return NotImplemented
        if int(self.iterations) != int(other.iterations) or self.slots.keys() != other.slots.keys():
            return False
        return all(len(self.slots[k]) == len(other.slots[k]) and
                   all(a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
                       for a, b in zip(self.slots[k], other.slots[k])) for k in self.slots)


# ------------------------------------------------------------------ hyper-parameters

def _hyper(name: str, value: Any, check: Callable[[str, float], Any]) -> Hyper:
    """Validate a hyper-parameter: a real scalar (returned as float) or an array whose every
    element passes ``check`` (returned as a read-only float64 array)."""
    if isinstance(value, (numbers.Real, np.generic)) and np.ndim(value) == 0 and not isinstance(value, bool):
        return check(name, float(value)) if isinstance(value, np.generic) else check(name, value)
    arr = _validate.array(name, value, dtype=np.float64)
    if arr.ndim == 0:
        return check(name, float(arr))
    for x in np.unique(arr):  # unique keeps the check cheap for big sweeps of few values
        check(name, float(x))
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _unit(name: str, value: float) -> float:
    return _validate.in_range(name, value, 0.0, 1.0, high_open=False)


def _unit_open(name: str, value: float) -> float:
    return _validate.in_range(name, value, 0.0, 1.0)


def _optional(name: str, value: Any) -> float | None:
    return None if value is None else _validate.positive(name, value)


def _cast(name: str, h: Hyper, like: np.ndarray) -> Any:
    """``h`` in ``like``'s dtype, shaped to broadcast over ``like``'s leading axes."""
    dtype = like.dtype
    if not isinstance(h, np.ndarray):
        return dtype.type(h)
    lead = like.shape[:h.ndim]
    if h.ndim > like.ndim or any(a != b and a != 1 for a, b in zip(h.shape, lead)):
        raise ValueError(f"{name} has shape {h.shape}, which is not a prefix of the parameter "
                         f"shape {like.shape}: an array hyper-parameter's axes must be the "
                         f"leading 'runs' axes of every parameter (size 1 broadcasts)")
    return h.astype(dtype, copy=False).reshape(h.shape + (1,) * (like.ndim - h.ndim))


def _show(h: Any) -> str:
    if isinstance(h, np.ndarray):
        return f"array(shape={h.shape}, min={h.min():.4g}, max={h.max():.4g})"
    return repr(h)


# ----------------------------------------------------------------------- optimizers

class Optimizer:
    """Base class: the common Keras arguments and the step pipeline.

    Subclasses set ``slot_names`` and implement ``_slots_for`` (which slots exist, given the
    hyper-parameters), ``_initial`` (a slot's starting value) and ``_update``.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: Any, *, weight_decay: Any = None, clipnorm: Any = None,
                 clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        if callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _hyper("learning_rate", learning_rate, _validate.positive)
        self.weight_decay = None if weight_decay is None else _hyper(
            "weight_decay", weight_decay, _validate.nonnegative)
        self.clipnorm = _optional("clipnorm", clipnorm)
        self.clipvalue = _optional("clipvalue", clipvalue)
        self.global_clipnorm = _optional("global_clipnorm", global_clipnorm)
        given = [n for n in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}")

    # -- configuration -------------------------------------------------------------
    def _own_config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters (Keras ``get_config`` names); ``type(opt)(**config)`` rebuilds it."""
        config = {"learning_rate": self.learning_rate}
        config.update(self._own_config())
        config.update(weight_decay=self.weight_decay, clipnorm=self.clipnorm,
                      clipvalue=self.clipvalue, global_clipnorm=self.global_clipnorm)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        return cls(**config)

    def __repr__(self) -> str:
        try:
            defaults = type(self)().get_config()
        except TypeError:  # a subclass without defaults: show everything
            defaults = {}
        parts = []
        for key, value in self.get_config().items():
            if key in ("learning_rate",) or not _same(value, defaults.get(key, object())):
                parts.append(f"{key}={_show(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- state ---------------------------------------------------------------------
    def _slots_for(self) -> tuple[str, ...]:
        return self.slot_names

    def _initial(self, slot: str, param: np.ndarray) -> np.ndarray:
        return np.zeros_like(param)

    def init(self, params: Params) -> OptState:
        """Fresh state for ``params`` (array or list of arrays): iterations 0, slots zero
        (Adagrad's accumulator: ``initial_accumulator_value``)."""
        plist, _ = _as_list("params", params)
        return OptState(iterations=np.array(0, dtype=np.int64),
                        slots={s: [self._initial(s, p) for p in plist] for s in self._slots_for()})

    # -- one step ------------------------------------------------------------------
    def current_learning_rate(self, iterations: Any, dtype: Any = np.float64) -> Hyper:
        """The learning rate used by the step taken when ``iterations`` steps are done."""
        lr = self.learning_rate
        if not callable(lr):
            return lr
        evaluate = getattr(lr, "evaluate", None)
        if evaluate is not None:
            dtype = np.dtype(dtype)
            value = evaluate(iterations, dtype=dtype if dtype in (np.float32, np.float64) else np.float32)
        else:
            value = lr(iterations)
        value = np.asarray(value)
        return value[()] if value.ndim == 0 else value

    def step(self, params: Params, grads: Params, state: OptState, *,
             run_ndim: int | None = None) -> tuple[Params, OptState]:
        """One update; returns ``(new_params, new_state)`` and leaves the inputs untouched.

        Args:
            params: array or list of arrays (float16/32/64); each keeps its dtype.
            grads: same structure and shapes; cast to each parameter's dtype (as Keras does).
            state: from :meth:`init` (or a previous step / :meth:`OptState.load`).
            run_ndim: number of leading "runs" axes, only used by ``clipnorm`` and
                ``global_clipnorm`` to take norms per run. Default: the largest rank of the
                array hyper-parameters (0 when all are scalars, i.e. whole-array norms as Keras).
        """
        plist, was_list = _as_list("params", params)
        glist, _ = _as_list("grads", grads, check_float=False)
        if len(glist) != len(plist):
            raise ValueError(f"grads has {len(glist)} arrays but params has {len(plist)}")
        for i, (p, g) in enumerate(zip(plist, glist)):
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape} but params[{i}] has shape {p.shape}")
        self._check_state(state, plist)
        if run_ndim is None:
            run_ndim = max((h.ndim for h in self._hyper_values() if isinstance(h, np.ndarray)), default=0)
        else:
            run_ndim = _validate.integer("run_ndim", run_ndim, minimum=0)
        t = int(state.iterations)
        glist = [np.asarray(g, dtype=p.dtype) for p, g in zip(plist, glist)]
        glist = self._clip(glist, run_ndim)
        lrs: dict[np.dtype, Hyper] = {}
        new_params, new_slots = [], {s: [] for s in state.slots}
        for i, (p, g) in enumerate(zip(plist, glist)):
            if p.dtype not in lrs:
                lrs[p.dtype] = self.current_learning_rate(np.int64(t), dtype=p.dtype)
            lr = _cast("learning_rate", lrs[p.dtype], p)
            w = p
            if self.weight_decay is not None:
                wd = _cast("weight_decay", self.weight_decay, p)
                w = w - w * wd * lr
            slots = {s: state.slots[s][i] for s in state.slots}
            w, slots = self._update(w, g, slots, lr, t)
            new_params.append(w)
            for s in new_slots:
                new_slots[s].append(slots[s])
        new_state = OptState(iterations=np.array(t + 1, dtype=np.int64), slots=new_slots)
        return (new_params if was_list else new_params[0]), new_state

    def _hyper_values(self) -> list[Any]:
        return list(self.get_config().values())

    def _check_state(self, state: OptState, plist: list[np.ndarray]) -> None:
        if not isinstance(state, OptState):
            raise TypeError(f"state must be an OptState from {type(self).__name__}.init, got "
                            f"{type(state).__name__}")
        expected = set(self._slots_for())
        if set(state.slots) != expected:
            raise ValueError(f"state has slots {sorted(state.slots)} but {type(self).__name__} with "
                             f"these hyper-parameters needs {sorted(expected)}")
        for name, arrays in state.slots.items():
            if len(arrays) != len(plist):
                raise ValueError(f"state slot {name!r} has {len(arrays)} arrays but params has {len(plist)}")
            for i, (a, p) in enumerate(zip(arrays, plist)):
                if a.shape != p.shape:
                    raise ValueError(f"state slot {name!r}[{i}] has shape {a.shape} but params[{i}] "
                                     f"has shape {p.shape}")

    def _clip(self, grads: list[np.ndarray], run_ndim: int) -> list[np.ndarray]:
        """Keras ``_clip_gradients``: per-parameter norm, global norm, or value clipping."""
        if self.clipnorm is not None:
            out = []
            for g in grads:
                c = g.dtype.type(self.clipnorm)
                axes = tuple(range(min(run_ndim, g.ndim), g.ndim))
                l2sum = np.sum(np.square(g), axis=axes, keepdims=True)
                l2norm = np.where(l2sum > 0, np.sqrt(np.where(l2sum > 0, l2sum, 1)), l2sum)
                out.append((g * c) / np.maximum(l2norm, c))
            return out
        if self.global_clipnorm is not None:
            # Per-run squared norms, summed over parameters (axes after the runs axes).
            sq = [np.sum(np.square(g), axis=tuple(range(min(run_ndim, g.ndim), g.ndim))) for g in grads]
            use_norm = np.sqrt(sum(sq[1:], sq[0]))
            out = []
            for g in grads:
                c = g.dtype.type(self.global_clipnorm)
                n = np.asarray(use_norm, dtype=g.dtype)
                with np.errstate(divide="ignore", invalid="ignore"):
                    scale = c * np.minimum(1 / n, 1 / c) + (n - n)  # NaN scale for inf/NaN norm, as Keras
                out.append(g * scale.reshape(scale.shape + (1,) * (g.ndim - scale.ndim)))
            return out
        if self.clipvalue is not None:
            return [np.clip(g, -g.dtype.type(self.clipvalue), g.dtype.type(self.clipvalue)) for g in grads]
        return grads

    def _update(self, w: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray], lr: Any,
                t: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    return a == b


def _as_list(name: str, value: Params, check_float: bool = True) -> tuple[list[np.ndarray], bool]:
    was_list = isinstance(value, (list, tuple))
    items = list(value) if was_list else [value]
    if was_list and not items:
        raise ValueError(f"{name} must not be an empty list")
    out = []
    for i, item in enumerate(items):
        label = f"{name}[{i}]" if was_list else name
        arr = _validate.array(label, item, allow_empty=True, require_finite=False)
        if check_float and not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"{label} must be a floating-point array, got dtype {arr.dtype}")
        out.append(arr)
    return out, was_list


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum -- Keras ``SGD``.

    With velocity ``v`` (slot ``"momentum"``, starts at 0), gradient ``g``, rate ``lr``:

    * momentum = 0:  ``w <- w - lr*g`` (no slot is kept)
    * momentum m:    ``v <- m*v - lr*g ;  w <- w + v``
    * nesterov:      ``v <- m*v - lr*g ;  w <- w + m*v - lr*g``  (with the *new* v)

    PyTorch differs in form: ``torch.optim.SGD`` keeps ``b <- m*b + (1-dampening)*g`` and steps
    ``w <- w - lr*b`` (Nesterov: ``w <- w - lr*(g + m*b)``); with constant lr and dampening 0
    the iterates are the same, but a changing lr rescales past velocity in torch and not here.

    Args:
        learning_rate: > 0, a schedule ``f(iterations)``, or an array over the runs axes.
        momentum: in [0, 1]; scalar or array over the runs axes. Unlike Keras (which raises
            for ``momentum=0``), Python ints are accepted.
        nesterov: Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm: as in Keras (module docstring).
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: Any = 0.0, nesterov: bool = False, *,
                 weight_decay: Any = None, clipnorm: Any = None, clipvalue: Any = None,
                 global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.momentum = _hyper("momentum", momentum, _unit)
        self.nesterov = _validate.boolean("nesterov", nesterov)

    def _own_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _slots_for(self) -> tuple[str, ...]:
        # Keras keeps a velocity only when momentum != 0; an array of momenta always needs one.
        return ("momentum",) if isinstance(self.momentum, np.ndarray) or self.momentum != 0 else ()

    def _update(self, w, g, slots, lr, t):
        if "momentum" not in slots:
            return w - g * lr, slots
        mom = _cast("momentum", self.momentum, w)
        v = slots["momentum"] * mom - g * lr
        if self.nesterov:
            return w + (v * mom - g * lr), {"momentum": v}
        return w + v, {"momentum": v}


#: Plain gradient descent: the same update as :class:`SGD`; "GD" when the gradient oracle is
#: exact (no minibatch sampling, no injected noise), "SGD" when it is stochastic.
GD = SGD


class Adam(Optimizer):
    r"""Adam -- Keras ``Adam`` (``keras/src/optimizers/adam.py``).

    With ``t = iterations + 1`` and ``b1**t``, ``b2**t`` computed in the parameter dtype::

        m <- m + (g - m)*(1 - b1)                 # = b1*m + (1-b1)*g
        v <- v + (g*g - v)*(1 - b2)
        vmax <- max(vmax, v); use vmax for v      # amsgrad only (max of the UNcorrected v)
        alpha = lr * sqrt(1 - b2**t) / (1 - b1**t)
        w <- w - m*alpha / (sqrt(v) + eps)

    epsilon is Kingma & Ba's "epsilon hat", added to sqrt of the *uncorrected* v; this equals
    ``lr*mhat/(sqrt(vhat) + eps/sqrt(1-b2**t))``. PyTorch's ``torch.optim.Adam`` adds eps to
    ``sqrt(vhat)`` (the bias-corrected v), which differs when eps is not tiny against sqrt(v)
    (eps=0.1: tens of percent after a few steps). On the first step ``|w1 - w0| = lr*|g|/(|g| +
    eps/sqrt(1-b2))`` ~ ``lr*sign(g)``.

    Args:
        learning_rate: > 0, schedule or runs array. beta_1, beta_2: in [0, 1).
        epsilon: > 0. amsgrad: AMSGrad variant (slot ``"vhat"``).
        weight_decay, clipnorm, clipvalue, global_clipnorm: as in Keras.
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
                 epsilon: Any = 1e-7, amsgrad: bool = False, *, weight_decay: Any = None,
                 clipnorm: Any = None, clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.beta_1 = _hyper("beta_1", beta_1, _unit_open)
        self.beta_2 = _hyper("beta_2", beta_2, _unit_open)
        self.epsilon = _hyper("epsilon", epsilon, _validate.positive)
        self.amsgrad = _validate.boolean("amsgrad", amsgrad)

    def _own_config(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _slots_for(self) -> tuple[str, ...]:
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _update(self, w, g, slots, lr, t):
        dtype = w.dtype
        step = dtype.type(t + 1)
        b1 = _cast("beta_1", self.beta_1, w)
        b2 = _cast("beta_2", self.beta_2, w)
        one = dtype.type(1)
        b1_power = _power(b1, step)
        b2_power = _power(b2, step)
        alpha = lr * np.sqrt(one - b2_power) / (one - b1_power)
        # (1 - beta) is formed in double precision and then cast, as Keras's Python scalar is.
        m = slots["m"] + (g - slots["m"]) * _cast("beta_1", _one_minus(self.beta_1), w)
        v = slots["v"] + (np.square(g) - slots["v"]) * _cast("beta_2", _one_minus(self.beta_2), w)
        new = {"m": m, "v": v}
        if self.amsgrad:
            v = np.maximum(slots["vhat"], v)
            new["vhat"] = v
        eps = _cast("epsilon", self.epsilon, w)
        return w - (m * alpha) / (np.sqrt(v) + eps), new


def _power(base: Any, exponent: Any) -> Any:
    """``base ** exponent`` always through NumPy's array loop: on a NumPy scalar ``np.power``
    takes a scalar-math path that can differ in the last bit from the (SIMD) array loop, which
    would make a run with a scalar beta differ from the same run inside a beta sweep."""
    out = np.power(np.atleast_1d(base), exponent)
    return out[0] if np.ndim(base) == 0 else out


def _one_minus(h: Hyper) -> Hyper:
    return 1.0 - h if isinstance(h, np.ndarray) else 1.0 - float(h)


class RMSprop(Optimizer):
    r"""RMSprop -- Keras ``RMSprop`` (``keras/src/optimizers/rmsprop.py``).

    ::

        v <- rho*v + (1-rho)*g^2                          # slot "velocity", starts at 0
        gbar <- rho*gbar + (1-rho)*g                      # centered only, slot "average_gradient"
        d = v + eps   (centered: v - gbar^2 + eps)        # eps INSIDE the sqrt
        inc = lr*g / sqrt(d)
        momentum > 0:  mom <- momentum*mom + inc ; w <- w - mom    (slot "momentum")
        else:          w <- w - inc

    PyTorch's ``torch.optim.RMSprop`` puts eps outside: ``g / (sqrt(v) + eps)``, uses
    ``alpha`` for rho (default 0.99) and eps 1e-8.

    Args:
        learning_rate: > 0, schedule or runs array. rho: in [0, 1). momentum: in [0, 1] (ints
            accepted). epsilon: > 0. centered: subtract the squared mean gradient.
    """

    def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.9, momentum: Any = 0.0,
                 epsilon: Any = 1e-7, centered: bool = False, *, weight_decay: Any = None,
                 clipnorm: Any = None, clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.rho = _hyper("rho", rho, _unit_open)
        self.momentum = _hyper("momentum", momentum, _unit)
        self.epsilon = _hyper("epsilon", epsilon, _validate.positive)
        self.centered = _validate.boolean("centered", centered)

    def _own_config(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _slots_for(self) -> tuple[str, ...]:
        slots = ["velocity"]
        if isinstance(self.momentum, np.ndarray) or self.momentum > 0:
            slots.append("momentum")
        if self.centered:
            slots.append("average_gradient")
        return tuple(slots)

    def _update(self, w, g, slots, lr, t):
        rho = _cast("rho", self.rho, w)
        one_minus_rho = _cast("rho", _one_minus(self.rho), w)
        eps = _cast("epsilon", self.epsilon, w)
        v = rho * slots["velocity"] + one_minus_rho * np.square(g)
        new = {"velocity": v}
        if self.centered:
            gbar = rho * slots["average_gradient"] + one_minus_rho * g
            new["average_gradient"] = gbar
            denominator = v - np.square(gbar) + eps
        else:
            denominator = v + eps
        increment = (lr * g) / np.sqrt(denominator)
        if "momentum" in slots:
            mom = _cast("momentum", self.momentum, w) * slots["momentum"] + increment
            new["momentum"] = mom
            return w - mom, new
        return w - increment, new


class Adagrad(Optimizer):
    r"""Adagrad -- Keras ``Adagrad`` (``keras/src/optimizers/adagrad.py``).

    ::

        a <- a + g^2                     # slot "accumulator", starts at initial_accumulator_value
        w <- w - lr*g / sqrt(a + eps)    # eps inside the sqrt

    PyTorch's ``torch.optim.Adagrad`` starts the accumulator at 0 and puts eps (1e-10)
    outside the sqrt.

    Args:
        learning_rate: > 0, schedule or runs array. initial_accumulator_value: >= 0 (Keras
            default 0.1). epsilon: > 0.
    """

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: Any = 0.1,
                 epsilon: Any = 1e-7, *, weight_decay: Any = None, clipnorm: Any = None,
                 clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.initial_accumulator_value = _hyper("initial_accumulator_value", initial_accumulator_value,
                                                _validate.nonnegative)
        self.epsilon = _hyper("epsilon", epsilon, _validate.positive)

    def _own_config(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}

    slot_names = ("accumulator",)

    def _initial(self, slot: str, param: np.ndarray) -> np.ndarray:
        a0 = _cast("initial_accumulator_value", self.initial_accumulator_value, param)
        return np.broadcast_to(a0, param.shape).astype(param.dtype, copy=True)

    def _update(self, w, g, slots, lr, t):
        a = slots["accumulator"] + np.square(g)
        eps = _cast("epsilon", self.epsilon, w)
        return w - (lr * g) / np.sqrt(a + eps), {"accumulator": a}


_REGISTRY: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a Keras string name (case-insensitive; default hyper-parameters) or an
    :class:`Optimizer` instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"optimizer must be a name {sorted(_REGISTRY)} or an Optimizer, got "
                        f"{_validate.show(identifier)}")
    name = _validate.choice("optimizer", identifier.lower(), sorted(_REGISTRY))
    return _REGISTRY[name]()
