"""One optimizer call for all of a model's weights, on a single flat vector (same bits).

Why: the seed CNN has 22 weight arrays, 21 of them with at most 1,024 values. An optimizer
step costs about a dozen NumPy calls per array whatever its size, so the tiny arrays cost most
of an Adam step; one concatenated vector costs one array's calls.

Same bits: an optimizer whose update is element-wise with scalar coefficients (``lr``,
bias corrections, betas) computes each element of the concatenated arrays exactly as it does
array by array. Each optimizer declares when that holds (``is_elementwise``): not with
``clipnorm`` (a norm per array), ``global_clipnorm`` (a norm over all arrays, summed in another
order) or array hyper-parameters (which broadcast over the leading axes of each array).

The model's weights and its public per-array ``optimizer_state`` are views into the flat
vectors the last step returned, so the next step finds them already packed and concatenates
only the gradients. Anything that replaced a weight or the state (``set_weights``, loading a
checkpoint) is noticed by identity and packed afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gdsim import optim


def flattenable(optimizer: optim.Optimizer, params: Sequence[np.ndarray],
                state: optim.OptState | None = None) -> bool:
    """Whether one flat update equals the per-array updates bit for bit: the optimizer says
    its step is element-wise (:meth:`~gdsim.optim.Optimizer.is_elementwise`), and the arrays
    and ``state``'s slot arrays share one dtype (a slot of another dtype, e.g. left by steps
    on a float64 weight, would promote the whole concatenated slot; ``None``: a state fresh
    from ``init``, of the params' dtypes)."""
    dtypes = {p.dtype for p in params}
    if state is not None:
        dtypes.update(a.dtype for arrays in state.slots.values() for a in arrays)
    return bool(params) and len(dtypes) == 1 and optimizer.is_elementwise()


class FlatUpdate:
    """Applies ``optimizer.step`` to the concatenation of ``params`` and returns per-array views.

    ``step(params, grads, state)`` has the contract of :meth:`gdsim.optim.Optimizer.step` for
    a list: new parameter arrays and a new per-array :class:`~gdsim.optim.OptState` (both
    views into fresh flat vectors; the inputs are left untouched).
    """

    def __init__(self) -> None:
        self._packed: _Packed | None = None

    def step(self, optimizer: optim.Optimizer, params: list[np.ndarray], grads: list[np.ndarray],
             state: optim.OptState) -> tuple[list[np.ndarray], optim.OptState]:
        shapes = [p.shape for p in params]
        flat_params, flat_state = self._flat_inputs(params, state)
        flat_grads = np.concatenate([np.ravel(g) for g in grads]).astype(flat_params.dtype, copy=False)
        new_flat, new_flat_state = optimizer.step(flat_params, flat_grads, flat_state)
        new_params = _split(new_flat, shapes)
        new_state = optim.OptState(iterations=new_flat_state.iterations,
                                   slots={name: _split(arrays[0], shapes)
                                          for name, arrays in new_flat_state.slots.items()})
        self._packed = _Packed(new_params, new_state, new_state.iterations,
                               {name: list(views) for name, views in new_state.slots.items()},
                               new_flat, new_flat_state)
        return new_params, new_state

    def _flat_inputs(self, params: list[np.ndarray], state: optim.OptState
                     ) -> tuple[np.ndarray, optim.OptState]:
        packed = self._packed
        if packed is not None and packed.holds(params, state):
            return packed.flat, packed.flat_state
        flat = np.concatenate([p.ravel() for p in params])
        flat_state = optim.OptState(iterations=state.iterations,
                                    slots={name: [np.concatenate([a.ravel() for a in arrays])]
                                           for name, arrays in state.slots.items()})
        return flat, flat_state


@dataclass
class _Packed:
    """What the last step handed out (views into ``flat``/``flat_state``), to recognise it."""

    params: list[np.ndarray]
    state: optim.OptState
    iterations: np.ndarray
    slots: dict[str, list[np.ndarray]]
    flat: np.ndarray
    flat_state: optim.OptState

    def holds(self, params: list[np.ndarray], state: optim.OptState) -> bool:
        """Whether ``params`` and ``state`` are still exactly what was handed out (OptState is
        mutable: its step count or a slot array may have been replaced since)."""
        return (state is self.state and state.iterations is self.iterations
                and _same(params, self.params) and state.slots.keys() == self.slots.keys()
                and all(_same(state.slots[name], views) for name, views in self.slots.items()))


def _same(arrays: Sequence[np.ndarray], others: Sequence[np.ndarray]) -> bool:
    return len(arrays) == len(others) and all(a is b for a, b in zip(arrays, others))


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Views of consecutive pieces of ``flat`` with the given shapes."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[start:start + size].reshape(shape))
        start += size
    return out
