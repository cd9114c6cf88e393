"""The :class:`Layer` protocol every gdsim layer follows.

Every layer is a small object with weights and two methods::

    layer.build(input_shape, dtype, rng)        # input_shape excludes the batch axis
    y = layer.forward(x, training=False)        # x: (N, *input_shape); caches what backward needs
    dx = layer.backward(dy)                     # dL/dx for the last forward; sets layer.grads
    layer.trainable_weights / layer.grads       # aligned lists, Keras order

A layer never writes into the arrays it is *given* (``x`` in forward, ``grad_output`` in
backward) and returns fresh arrays or views of its input; it keeps references (not copies)
of what its backward pass needs, so between ``forward`` and ``backward`` callers must not edit
``x`` or the returned array in place.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn.arguments import shape_tuple

__all__ = ["Layer"]


def _snake_case(name: str) -> str:
    # Keras's auto-naming: "BatchNormalization" -> "batch_normalization", "ReLU" -> "re_lu".
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


class Layer:
    """Base class of every gdsim layer.

    Attributes:
        name: Keras-style name; ``None`` lets the model assign ``"dense"``, ``"dense_1"``, ...
            (:attr:`base_name` is the snake-case stem Keras would use).
        trainable: ``False`` freezes the layer (no gradients; BN uses moving statistics).
        built: whether :meth:`build` has run.
        input_shape: the optional ``input_shape=`` constructor argument (no batch axis).
        dtype: the dtype the layer was built in (``None`` before build).
        grads: ``dL/dw`` for each of :attr:`trainable_weights`, set by :meth:`backward`.
    """

    #: attribute names of the trainable / non-trainable weights, in Keras order
    _trainable_names: tuple[str, ...] = ()
    _non_trainable_names: tuple[str, ...] = ()

    def __init__(self, *, input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string or None, got {name!r}")
        self.name = name
        self.trainable = _validate.boolean("trainable", trainable)
        self.input_shape = shape_tuple("input_shape", input_shape)
        self.built = False
        self.dtype: np.dtype | None = None
        self.build_input_shape: tuple[int, ...] | None = None
        self.grads = []

    # -- naming ---------------------------------------------------------------------------
    @classmethod
    def base_name(cls) -> str:
        """The stem Keras uses for auto-naming (``Dense`` -> ``"dense"``)."""
        return _snake_case(cls.__name__)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape: Sequence[int], dtype: Any = np.float32,
              rng: np.random.Generator | None = None) -> None:
        """Create the weights for inputs of shape ``(N, *input_shape)`` in ``dtype``.

        Random initializers draw from ``rng`` (a ``numpy.random.Generator``); layers without
        random weights accept ``rng=None``.
        """
        shape = shape_tuple("input_shape", input_shape, allow_none=False) if len(tuple(input_shape)) \
            else ()
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.dtype = _validate.float_dtype("dtype", dtype)
        self._build(shape, rng)
        self.build_input_shape = shape
        self.built = True

    def _build(self, input_shape: tuple[int, ...], rng: np.random.Generator | None) -> None:
        """Subclasses create their weights here (``self.dtype`` is already set)."""

    def _check_weights_fit(self, count: int, what: str) -> None:
        """Refuse, before allocating, weights that cannot fit: each weight is held ~4 times
        in training (the weight, its gradient, two optimizer slots)."""
        _validate.memory("input_shape", 4 * int(count) * self.dtype.itemsize,
                         f"layer {self.name!r} ({type(self).__name__}) with {_validate.count(count)} "
                         f"weights ({what})")

    def _require_rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        if rng is None:
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) draws random initial "
                            "weights: build() needs rng, a numpy.random.Generator")
        return rng

    def _check_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) is not built; call "
                             f"build(input_shape, dtype, rng) before {what}")

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` as an array of the layer's dtype, checked against the built input shape."""
        self._check_built("forward")
        x = np.asarray(x)
        if x.shape[1:] != self.build_input_shape:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) was built for inputs of "
                             f"shape (batch, {', '.join(map(str, self.build_input_shape))}), "
                             f"got x of shape {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (no batch axis) for an input of shape ``input_shape`` (no batch axis)."""
        return tuple(input_shape)

    # -- computation ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training=training)

    # -- weights --------------------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight, Keras ``layer.weights`` order (trainable-created first)."""
        return [getattr(self, n) for n in self._trainable_names + self._non_trainable_names] \
            if self.built else []

    @property
    def weight_names(self) -> list[str]:
        return list(self._trainable_names + self._non_trainable_names)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """Weights the optimizer updates (empty when frozen, like Keras)."""
        if not (self.trainable and self.built):
            return []
        return [getattr(self, n) for n in self._trainable_names]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self.built:
            return []
        if not self.trainable:
            return self.weights
        return [getattr(self, n) for n in self._non_trainable_names]

    def set_trainable_weights(self, values: Sequence[np.ndarray]) -> None:
        """Install updated trainable weights (same order as :attr:`trainable_weights`).

        The arrays are taken as they are (no copy) when already in the layer dtype: this runs
        once per optimizer step.
        """
        names = self._trainable_names if self.trainable else ()
        if len(values) != len(names):
            raise ValueError(f"layer {self.name!r} has {len(names)} trainable weights, "
                             f"got {len(values)} values")
        for n, v in zip(names, values):
            current = getattr(self, n)
            v = np.asarray(v, dtype=self.dtype)
            if v.shape != current.shape:
                raise ValueError(f"layer {self.name!r} weight {n!r} has shape {current.shape}, "
                                 f"got {v.shape}")
            setattr(self, n, v)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, Keras ``get_weights()`` order (BN: gamma, beta, moving_mean,
        moving_variance)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set every weight (Keras ``set_weights``), checking count and shapes; values are
        copied and cast to the layer dtype."""
        self._check_built("set_weights")
        names = self.weight_names
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
            raise TypeError(f"weights for layer {self.name!r} must be a list of {len(names)} arrays, "
                            f"got {type(weights).__name__}")
        if len(weights) != len(names):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects {len(names)} "
                             f"weights {names}, got a list of {len(weights)}")
        new = []
        for i, (n, value) in enumerate(zip(names, weights)):
            current = getattr(self, n)
            value = _validate.array(f"weights[{i}] ({n}) of layer {self.name!r}", value,
                                    allow_empty=True, require_finite=False)
            if value.shape != current.shape:
                raise ValueError(f"layer {self.name!r} weight {i} ({n}) has shape {current.shape}, "
                                 f"received shape {value.shape}")
            new.append(np.array(value, dtype=self.dtype, copy=True))
        for n, v in zip(names, new):
            setattr(self, n, v)

    def count_params(self) -> int:
        """Number of scalars in every weight (trainable and not), as Keras counts."""
        self._check_built("count_params")
        return int(sum(w.size for w in self.weights))

    def get_config(self) -> dict:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": None if self.dtype is None else self.dtype.name}
        if self.input_shape is not None:
            config["input_shape"] = self.input_shape
        return config


