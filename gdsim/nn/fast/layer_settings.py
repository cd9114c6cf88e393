"""Whether the lane worker's copy of some layers still has their settings.

The worker (:mod:`gdsim.nn.fast.lanes`) computes with a pickled copy of layers, handed over
once; their weights are published before every pass, but a *setting* changed afterwards (a
Dropout rate, a BatchNormalization epsilon or momentum, ``trainable``, an activation), by a
callback between two steps or between two ``fit`` calls, must reach it too, or one core and
two would give different bits. So before every pass the layers are compared with what was
handed over:

- :class:`Watch`, the quick look (a few microseconds a layer): has any attribute of a layer
  been assigned since? gdsim's own layers hold only values that do not change in place (numbers,
  strings, tuples, frozen activation functions; their initializers are read by ``build`` only),
  so an assignment is the only way their settings change; a layer of any other class, or one
  given an array for a setting (which can change in place), is always looked at in full;
- :func:`settings`, the full look (about 10 us a layer): each layer's type and public
  attributes but its weights, pickled, compared byte for byte.
"""

from __future__ import annotations

import copyreg
import io
import operator
import pickle
from typing import Sequence

import numpy as np

from gdsim.nn.layers import Layer

#: how :func:`settings` pickles a random generator: as an empty string (its state is one the
#: worker never reads)
_LEFT_OUT = copyreg.dispatch_table.copy()
_LEFT_OUT[np.random.Generator] = lambda obj: (str, ("",))


def _settings_of(layer: Layer) -> dict:
    """A layer's settings: its public attributes but its weights (published every pass) and
    ``grads``; a pass's own state lives in ``_``-prefixed attributes. An array that is not a
    weight (a 0-d array for an epsilon, say) is a setting like any other value."""
    weights = set(layer.weight_names)
    return {name: value for name, value in vars(layer).items()
            if not name.startswith("_") and name != "grads" and name not in weights}


def settings(layers: Sequence[Layer]) -> bytes:
    """Each layer's type and settings, pickled with every random generator left out: what the
    worker's copy must agree on besides the weights."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _LEFT_OUT
    pickler.dump([(type(layer), _settings_of(layer)) for layer in layers])
    return out.getvalue()


def _own(layer: Layer) -> bool:
    """Whether ``layer`` is of one of gdsim's own layer classes (not a subclass from elsewhere)."""
    return type(layer).__module__.startswith("gdsim.nn.layers.")


class Watch:
    """The settings of some layers as handed to the worker, and the objects their attributes
    were bound to then (kept alive, so that identity says "not assigned since")."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._look(layers)

    def _look(self, layers: Sequence[Layer], now: bytes | None = None) -> None:
        self.settings = settings(layers) if now is None else now
        self._bound = []
        for layer in layers:
            attributes, values = vars(layer), _settings_of(layer)
            # an array setting can change in place, unseen by identity: such a layer is
            # always looked at in full
            mutable = any(isinstance(value, np.ndarray) for value in values.values())
            names = tuple(values)
            self._bound.append((attributes, names, tuple(values.values()), mutable))

    def _not_assigned(self, layers: Sequence[Layer]) -> bool:
        """The quick look: the same layers, of gdsim's own classes, every setting still bound to
        the same object (an attribute added since is read by none of their code)."""
        try:
            return len(layers) == len(self._bound) and all(
                _own(layer) and not mutable and vars(layer) is attributes
                and all(map(operator.is_, map(attributes.__getitem__, names), values))
                for layer, (attributes, names, values, mutable) in zip(layers, self._bound))
        except KeyError:  # an attribute deleted
            return False

    def unchanged(self, layers: Sequence[Layer]) -> bool:
        """Whether ``layers`` still have the settings handed over."""
        if self._not_assigned(layers):
            return True
        try:
            now = settings(layers)
        except Exception:  # no longer picklable: handing them over again tells why
            return False
        if now != self.settings:
            return False
        self._look(layers, now)  # assigned again, to equal values: the quick look works again
        return True
