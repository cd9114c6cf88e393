"""The shared step pipeline: one chain of transforms around an optimizer's update rule.

``Optimizer.step`` is the same for every rule (Keras's ``BaseOptimizer.apply``)::

    check params, grads and state            # shapes, dtypes, slots: before any work
    grads <- grads cast to each parameter's dtype
    lr    <- learning rate at the *current* iterations (a schedule sees 0 on the first step)
    for transform in optimizer.transforms():  # the chain, in order (optax's ``chain``):
        params, grads <- transform(params, grads, lrs, run_ndim)
                                              # Keras: clipnorm | global_clipnorm | clipvalue,
                                              # then decoupled weight decay w <- w - w*wd*lr
    w, slots <- rule(w, g, slots, lr, t, **coefficients)   # per parameter: the update rule
    iterations <- iterations + 1

The rules (``sgd.py``, ``adam.py``, ...) are pure functions of arrays that already have the
parameter's dtype and runs axes; everything that is not the algorithm lives here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Union

import numpy as np

from gdsim import _validate
from gdsim.optim import hyper
from gdsim.optim.state import OptState

Params = Union[np.ndarray, list[np.ndarray]]
Rule = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]

__all__ = ["Params", "Optimizer", "Transform", "ClipByNorm", "ClipByGlobalNorm", "ClipByValue",
           "DecoupledWeightDecay"]


# ------------------------------------------------------------------------ transforms

class Transform:
    """One link of the chain: ``(params, grads, lrs, run_ndim) -> (params, grads)`` over
    lists (one entry per parameter; ``lrs`` are the learning rates the rule will see).

    ``elementwise``: whether every output element depends only on the same element of the
    inputs (so applying it to a concatenation equals applying it array by array).
    """

    elementwise: ClassVar[bool] = True

    def __call__(self, params: list[np.ndarray], grads: list[np.ndarray], lrs: list[Any],
                 run_ndim: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        raise NotImplementedError


def _run_axes(run_ndim: int, g: np.ndarray) -> tuple[int, ...]:
    """The axes after the leading runs axes: a norm over them is one norm per run."""
    return tuple(range(min(run_ndim, g.ndim), g.ndim))


@dataclasses.dataclass(frozen=True)
class ClipByNorm(Transform):
    """Keras ``clipnorm``: ``g <- g*c / max(||g||, c)`` per parameter (and per run)."""

    clipnorm: float
    elementwise: ClassVar[bool] = False

    def __call__(self, params, grads, lrs, run_ndim):
        out = []
        for g in grads:
            c = g.dtype.type(self.clipnorm)
            l2sum = np.sum(np.square(g), axis=_run_axes(run_ndim, g), keepdims=True)
            l2norm = np.where(l2sum > 0, np.sqrt(np.where(l2sum > 0, l2sum, 1)), l2sum)
            out.append((g * c) / np.maximum(l2norm, c))
        return params, out


@dataclasses.dataclass(frozen=True)
class ClipByGlobalNorm(Transform):
    """Keras ``global_clipnorm``: every ``g <- g * c*min(1/N, 1/c)``, ``N`` the norm over all
    parameters (per run)."""

    global_clipnorm: float
    elementwise: ClassVar[bool] = False

    def __call__(self, params, grads, lrs, run_ndim):
        sq = [np.sum(np.square(g), axis=_run_axes(run_ndim, g)) for g in grads]
        use_norm = np.sqrt(sum(sq[1:], sq[0]))
        out = []
        for g in grads:
            c = g.dtype.type(self.global_clipnorm)
            n = np.asarray(use_norm, dtype=g.dtype)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = c * np.minimum(1 / n, 1 / c) + (n - n)  # NaN scale for inf/NaN norm, as Keras
            out.append(g * scale.reshape(scale.shape + (1,) * (g.ndim - scale.ndim)))
        return params, out


@dataclasses.dataclass(frozen=True)
class ClipByValue(Transform):
    """Keras ``clipvalue``: ``g <- clip(g, -c, c)``."""

    clipvalue: float

    def __call__(self, params, grads, lrs, run_ndim):
        return params, [np.clip(g, -g.dtype.type(self.clipvalue), g.dtype.type(self.clipvalue))
                        for g in grads]


@dataclasses.dataclass(frozen=True)
class DecoupledWeightDecay(Transform):
    """Keras ``weight_decay``: ``w <- w - w*wd*lr`` before the rule (decoupled: the gradient
    never sees it)."""

    weight_decay: hyper.Hyper

    def __call__(self, params, grads, lrs, run_ndim):
        out = []
        for w, lr in zip(params, lrs):
            wd = hyper.cast("weight_decay", self.weight_decay, w)
            out.append(w - w * wd * lr)
        return out, grads


# ------------------------------------------------------------------------- optimizer

class Optimizer:
    """Base class: the common Keras arguments and the step pipeline.

    A subclass is one update rule. It sets ``rule`` (a pure function, see :meth:`_update`),
    ``slot_names`` (or overrides ``_slots_for``), the names of the hyper-parameters the rule
    takes (``coefficients``: cast to the parameter dtype; ``complements``: ``1 - h`` formed in
    double precision, then cast, passed as ``one_minus_<name>``; ``flags``: passed as is), and
    ``elementwise`` (True when the rule updates each element from the same element of ``w``,
    ``g`` and the slots alone, with coefficients that do not vary across elements).

    A subclass that replaces ``rule``, ``_update`` or ``step`` without declaring
    ``elementwise`` itself is taken as not element-wise: the safe default.
    """

    slot_names: ClassVar[tuple[str, ...]] = ()
    rule: ClassVar[Rule]
    coefficients: ClassVar[tuple[str, ...]] = ()
    complements: ClassVar[tuple[str, ...]] = ()
    flags: ClassVar[tuple[str, ...]] = ()
    elementwise: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "elementwise" not in vars(cls) and any(n in vars(cls) for n in ("rule", "_update", "step")):
            cls.elementwise = False

    def __init__(self, learning_rate: Any, *, weight_decay: Any = None, clipnorm: Any = None,
                 clipvalue: Any = None, global_clipnorm: Any = None) -> None:
        if callable(learning_rate) and not isinstance(learning_rate, type):  # SGD(float): no
            if not hasattr(learning_rate, "evaluate"):  # a plain function of neither form: now
                _validate.takes_step("learning_rate", learning_rate)
            self.learning_rate = learning_rate
        else:
            self.learning_rate = hyper.hyper("learning_rate", learning_rate, _validate.positive)
        self.weight_decay = None if weight_decay is None else hyper.hyper(
            "weight_decay", weight_decay, _validate.nonnegative)
        self.clipnorm = hyper.optional_positive("clipnorm", clipnorm)
        self.clipvalue = hyper.optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = hyper.optional_positive("global_clipnorm", global_clipnorm)
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
            if key in ("learning_rate", "lr") or not hyper.same(value, defaults.get(key, object())):
                parts.append(f"{key}={hyper.show(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _hyper_values(self) -> list[Any]:
        """Every hyper-parameter value (tuples such as PyTorch's ``betas`` unpacked)."""
        values = []
        for value in self.get_config().values():
            values.extend(value if isinstance(value, tuple) else [value])
        return values

    def is_elementwise(self) -> bool:
        """Whether :meth:`step` on the concatenation of several same-dtype arrays equals
        :meth:`step` on each array, bit for bit, with the current hyper-parameters.

        True when the rule declares itself element-wise, every transform of the chain is
        (``clipnorm``/``global_clipnorm`` take norms, so they are not), no hyper-parameter is an
        array (an array broadcasts over each array's own leading axes), and the learning rate
        is a number or a schedule (``evaluate`` and ``get_config``) with no array in its
        configuration -- a plain callable may return per-run arrays.
        """
        if not type(self).elementwise or not all(t.elementwise for t in self.transforms()):
            return False
        values = self._hyper_values()
        learning_rate = self.learning_rate
        if callable(learning_rate):
            if not (hasattr(learning_rate, "evaluate") and hasattr(learning_rate, "get_config")):
                return False
            values += list(learning_rate.get_config().values())
        return not any(isinstance(v, np.ndarray) for v in values)

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
    def current_learning_rate(self, iterations: Any, dtype: Any = np.float64) -> hyper.Hyper:
        """The learning rate used by the step taken when ``iterations`` steps are done."""
        lr = self.learning_rate
        if not callable(lr):
            return lr
        evaluate = getattr(lr, "evaluate", None)
        if evaluate is not None:
            dtype = np.dtype(dtype)
            value = evaluate(iterations, dtype=dtype if dtype in (np.float32, np.float64) else np.float32)
        else:  # f(step), or Keras's f(): the form read once from its signature
            if getattr(self, "_lr_form", (None,))[0] is not lr:
                self._lr_form = (lr, _validate.takes_step("learning_rate", lr))
            value = lr(iterations) if self._lr_form[1] else lr()
        value = np.asarray(value)
        return value[()] if value.ndim == 0 else value

    def _learning_rate_for(self, lr: hyper.Hyper, param: np.ndarray) -> Any:
        """The learning rate as the rule sees it: Keras casts it to the parameter dtype."""
        return hyper.cast("learning_rate", lr, param)

    def transforms(self) -> list[Transform]:
        """The chain applied before the rule, in order (Keras: clipping, then weight decay)."""
        chain: list[Transform] = []
        if self.clipnorm is not None:
            chain.append(ClipByNorm(self.clipnorm))
        elif self.global_clipnorm is not None:
            chain.append(ClipByGlobalNorm(self.global_clipnorm))
        elif self.clipvalue is not None:
            chain.append(ClipByValue(self.clipvalue))
        if self.weight_decay is not None:
            chain.append(DecoupledWeightDecay(self.weight_decay))
        return chain

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
        if not isinstance(state, OptState):
            raise TypeError(f"state must be an OptState from {type(self).__name__}.init, got "
                            f"{type(state).__name__}")
        state.check(type(self).__name__, self._slots_for(), plist)
        if run_ndim is None:
            run_ndim = max((h.ndim for h in self._hyper_values() if isinstance(h, np.ndarray)), default=0)
        else:
            run_ndim = _validate.integer("run_ndim", run_ndim, minimum=0)
        t = int(state.iterations)
        glist = [np.asarray(g, dtype=p.dtype) for p, g in zip(plist, glist)]
        by_dtype = {p.dtype: self.current_learning_rate(np.int64(t), dtype=p.dtype) for p in plist}
        lrs = [self._learning_rate_for(by_dtype[p.dtype], p) for p in plist]
        for transform in self.transforms():
            plist, glist = transform(plist, glist, lrs, run_ndim)
        new_params, new_slots = [], {s: [] for s in state.slots}
        for i, (w, g, lr) in enumerate(zip(plist, glist, lrs)):
            w, slots = self._update(w, g, {s: state.slots[s][i] for s in state.slots}, lr, t)
            new_params.append(w)
            for s in new_slots:
                new_slots[s].append(slots[s])
        new_state = OptState(iterations=np.array(t + 1, dtype=np.int64), slots=new_slots)
        return (new_params if was_list else new_params[0]), new_state

    def _coefficients(self, like: np.ndarray) -> dict[str, Any]:
        """The rule's keyword hyper-parameters for parameter ``like`` (see the class docstring)."""
        out = {name: hyper.cast(name, getattr(self, name), like) for name in self.coefficients}
        out.update({f"one_minus_{name}": hyper.cast(name, hyper.one_minus(getattr(self, name)), like)
                    for name in self.complements})
        out.update({name: getattr(self, name) for name in self.flags})
        return out

    def _update(self, w: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray], lr: Any,
                t: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One parameter's update: ``rule(w, g, slots, lr, t, **coefficients)`` where ``t`` is
        the number of completed steps and ``slots`` maps slot name -> this parameter's array."""
        return type(self).rule(w, g, slots, lr, t, **self._coefficients(w))


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
