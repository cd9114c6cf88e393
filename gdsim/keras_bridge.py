"""The same model in Keras 3: build it from a gdsim ``Sequential``, copy weights both ways.

Keras is imported lazily, here only, so ``import gdsim`` never pays for it. Any Keras 3
backend works (``KERAS_BACKEND`` = jax, tensorflow or torch, set before the first import).

    >>> from gdsim import keras_bridge
    >>> keras_model = keras_bridge.to_keras(model)          # same layers, same weights
    >>> keras_model.compile(optimizer=keras_bridge.to_keras_optimizer(model.optimizer), loss="mse")
    >>> keras_bridge.copy_weights(keras_model, model)       # and back again

gdsim layer classes carry Keras's class names and constructor arguments, so the mapping is
by name. What cannot be carried over: random streams (Dropout masks, initial weights, shuffle
order under the TF/torch backends) -- set weights explicitly and use Dropout rate 0 or
inference mode when comparing numbers.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from gdsim import optim
from gdsim.nn.model import Sequential


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    return keras


def _constructor_kwargs(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    accepted = inspect.signature(cls.__init__).parameters
    return {key: value for key, value in config.items()
            if key in accepted and key not in ("name", "input_shape", "dtype")}


def to_keras_layer(layer: Any, dtype: str):
    """The Keras layer with the same class name and constructor arguments as ``layer``."""
    keras = _keras()
    cls = getattr(keras.layers, type(layer).__name__, None)
    if cls is None:
        raise TypeError(f"no Keras layer named {type(layer).__name__} for layer {layer.name!r}")
    return cls(name=layer.name, dtype=dtype, **_constructor_kwargs(cls, layer.get_config()))


def to_keras(model: Sequential):
    """A built ``keras.Sequential`` equal to ``model``: same layers, same dtype, same weights."""
    keras = _keras()
    if not model.built:
        model.build()
    dtype = model.dtype.name
    layers = [keras.Input(shape=model.input_shape, dtype=dtype)]
    layers += [to_keras_layer(layer, dtype) for layer in model.layers]
    keras_model = keras.Sequential(layers, name=model.name)
    copy_weights(model, keras_model)
    return keras_model


def copy_weights(source: Any, target: Any) -> None:
    """Copy every weight from one model to the other (gdsim -> Keras or Keras -> gdsim).

    Both sides list weights layer by layer in Keras's ``get_weights()`` order
    (Dense/Conv2D: kernel, bias; BatchNormalization: gamma, beta, moving mean, moving variance).
    """
    weights = [np.asarray(w) for w in source.get_weights()]
    expected = [np.shape(w) for w in target.get_weights()]
    received = [w.shape for w in weights]
    if expected != received:
        raise ValueError(f"the models' weights differ in shape: target has {expected}, "
                         f"source has {received}")
    target.set_weights(weights)


def to_keras_optimizer(optimizer: optim.Optimizer):
    """The Keras optimizer with the same class and hyper-parameters (scalars only)."""
    keras = _keras()
    cls = getattr(keras.optimizers, type(optimizer).__name__)
    config = optimizer.get_config()
    for key, value in config.items():
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise ValueError(f"hyper-parameter {key} is an array (a sweep over runs); Keras "
                             "optimizers take scalars")
        if callable(value):
            raise ValueError(f"hyper-parameter {key} is a schedule; build the Keras schedule "
                             "by hand")
    return cls(**_constructor_kwargs(cls, config))
