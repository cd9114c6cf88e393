"""The :class:`Layer` protocol every gdsim layer follows, and small shared helpers.

Contract on buffers: a layer never writes into the arrays it is *given* (``x`` in forward,
``grad_output`` in backward). It keeps references instead of copies for its backward pass
(its input ``x``, or its own output for activations), so between ``forward`` and
``backward`` callers must not edit ``x`` or the returned array in place. Arrays returned
from ``forward`` may be views of the input (Flatten, inference Dropout). Internal scratch
buffers (the im2col matrix) are reused from batch to batch: only the last forward can be
back-propagated, which is how training uses them.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import numpy as np

from gdsim import _validate
from gdsim.nn import background

__all__ = ["Layer", "normalize_data_format"]


def _snake_case(name: str) -> str:
    # Keras's auto-naming: "BatchNormalization" -> "batch_normalization", "ReLU" -> "re_lu".
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def normalize_data_format(value: str | None) -> str:
    """``None`` -> ``"channels_last"`` (Keras's default image_data_format), else checked."""
    if value is None:
        return "channels_last"
    return _validate.choice("data_format", value, ["channels_last", "channels_first"])


def _shape_tuple(name: str, value: Any, *, allow_none: bool = True) -> tuple[int, ...] | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a tuple of positive integers, got {_validate.show(value)}")
    return tuple(_validate.integer(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


class Layer:
    """Base class of every gdsim layer.

    Attributes:
        name: Keras-style name; ``None`` lets the model assign ``"dense"``, ``"dense_1"``, ...
            (:attr:`base_name` is the snake-case stem Keras would use).
        trainable: ``False`` freezes the layer (no gradients; BN uses moving statistics).
        built: whether :meth:`build` has run.
        input_shape: the optional ``input_shape=`` constructor argument (no batch axis).
        dtype: the dtype the layer was built in (``None`` before build).
        grads: ``dL/dw`` for each of :attr:`trainable_weights`, set by :meth:`backward` (when
            :attr:`use_background` is on, reading it waits for the background computation).
        compute_input_grad: ``True`` by default; a model may set it ``False`` on its first
            layer, whose ``dL/dx`` nobody needs: ``backward`` then skips that work (for Conv2D
            the whole col2im) and returns ``None``.
    """

    compute_input_grad: bool = True
    #: set by a model for each training step: the layer may hand independent work (weight
    #: gradients, dropout masks, half of a batch) to the background thread of
    #: :mod:`gdsim.nn.background`; the bits are the same either way
    use_background: bool = False

    #: set by a model during its backward pass: ``grad_output`` is a temporary nothing else
    #: reads, so ``backward`` may compute ``dL/dx`` in its buffer (saves an allocation and a
    #: cache-cold write per layer; a layer called on its own never overwrites its argument)
    scratch_grad_output: bool = False

    #: set by a model for its training forward pass: the input is the previous layer's output,
    #: which that layer no longer needs (its ``keeps_output`` is False), so ``forward`` may
    #: compute in place (a write into cache-hot memory instead of a fresh array)
    scratch_input: bool = False

    @property
    def keeps_output(self) -> bool:
        """Whether the layer reads its own forward output again (in ``backward``); a model lets
        the next layer overwrite that output only when this is False."""
        return True

    #: set by a model for its training step: the arrays this layer returned in the previous
    #: step are dead (all of that step's work is done), so it may write them again
    #: (:meth:`_buffer`) instead of asking for fresh memory, which page-faults on every step
    reuse_buffers: bool = False

    #: attribute names of the trainable / non-trainable weights, in Keras order
    _trainable_names: tuple[str, ...] = ()
    _non_trainable_names: tuple[str, ...] = ()

    def __init__(self, *, input_shape: Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string or None, got {name!r}")
        self.name = name
        self.trainable = _validate.boolean("trainable", trainable)
        self.input_shape = _shape_tuple("input_shape", input_shape)
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
        shape = _shape_tuple("input_shape", input_shape, allow_none=False) if len(tuple(input_shape)) \
            else ()
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.dtype = _validate.float_dtype("dtype", dtype)
        self._build(shape, rng)
        self.build_input_shape = shape
        self.built = True

    def _build(self, input_shape: tuple[int, ...], rng: np.random.Generator | None) -> None:
        """Subclasses create their weights here (``self.dtype`` is already set)."""

    def _require_rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        if rng is None:
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) draws random initial "
                            "weights: build() needs rng, a numpy.random.Generator")
        return rng

    def _check_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) is not built; call "
                             f"build(input_shape, dtype, rng) before {what}")

    def _check_input(self, x: np.ndarray) -> np.ndarray:
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

    @property
    def grads(self) -> list[np.ndarray]:
        pending = self.__dict__.get("_pending_grads")
        if pending is not None:  # (dropped only once its result is in: an interrupt keeps it)
            self._grads = pending.result()
            del self._pending_grads
        return self._grads

    @grads.setter
    def grads(self, value: list[np.ndarray]) -> None:
        self.__dict__.pop("_pending_grads", None)
        self._grads = value

    def _overwritable(self, array: Any, allowed: bool) -> np.ndarray | None:
        """``array`` when ``allowed`` (:attr:`scratch_input` or :attr:`scratch_grad_output`)
        and it is a writeable array of the layer's dtype, else ``None``."""
        if allowed and isinstance(array, np.ndarray) and array.dtype == self.dtype \
                and array.flags.writeable:
            return array
        return None

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any, reuse: bool = True) -> np.ndarray:
        """A per-layer array kept under ``name`` from call to call (a new one when the shape or
        dtype changes). With ``reuse`` False (a layer called on its own, whose result the
        caller may keep) always a fresh array."""
        buffers = self.__dict__.setdefault("_buffers_by_name", {})
        buffer = buffers.get(name)
        if not reuse or buffer is None or buffer.shape != tuple(shape) or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype)
            if reuse:
                buffers[name] = buffer
        return buffer

    # -- hooks a model calls around a training step (no-ops unless a layer has use for them) --
    def prefetch(self, batch_size: int) -> None:
        """Start work for the coming training forward of ``batch_size`` samples early."""

    def discard_prefetch(self) -> None:
        """Undo a :meth:`prefetch` no forward consumed (the step failed before this layer)."""

    def prepare_input(self, x: np.ndarray) -> None:
        """Prepare for a coming ``forward(x)`` of this very array (called on the background
        thread while the model's current step runs)."""

    def _set_grads(self, compute: Callable[..., list[np.ndarray]], *args: Any) -> None:
        """``grads = compute(*args)``: at once, or on the background thread when
        :attr:`use_background` is on (``args`` must then stay unmodified until ``grads`` is
        read). A layer that skips its ``dL/dx`` has nothing to overlap with: it computes
        them itself rather than wait for the hand-over."""
        if self.use_background and self.compute_input_grad:
            self.grads = []
            self._pending_grads = background.submit(compute, *args)
        else:
            self.grads = compute(*args)

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


