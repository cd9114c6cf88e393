"""The network of seed question 000 ("validation loss sometimes spikes"), and its recipe.

``seed_cnn`` is the network of the "validation loss sometimes spikes" question
(``docs/seed_questions.md``), layer for layer, including its ``K.image_data_format()`` branch:
for ``channels_first`` the input is ``(depth, height, width)`` and BatchNormalization
normalises axis 1 (``chanDim = 1``); otherwise ``(height, width, depth)`` and axis -1.
``build_model`` compiles it as the question does.
"""

from __future__ import annotations

from gdsim import _validate, optim, schedules
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             MaxPooling2D)
from gdsim.nn.model import Sequential


def seed_cnn(height: int = 32, width: int = 32, depth: int = 3, classes: int = 2,
             data_format: str = "channels_last", dropout: bool = True, seed: int = 0,
             dtype: str = "float32") -> Sequential:
    """The seed's CNN, built (weights drawn from ``seed``) but not compiled.

    ::

        Conv2D(16, 3x3, same) ReLU BN    Conv2D(16, 1x1, same) ReLU BN   MaxPool 2x2  Dropout .25
        Conv2D(32, 1x1, same) ReLU BN    Conv2D(32, 1x1, same) ReLU BN   MaxPool 2x2  Dropout .25
        Flatten  Dense(64) ReLU BN  Dropout .5  Dense(classes) softmax

    For 32x32x3 inputs and 2 classes: 134,226 parameters, 133,906 trainable (as in Keras).
    ``dropout=False`` sets every Dropout rate to 0 (for experiments without dropout and for
    cross-checks, where Keras's masks cannot be reproduced).
    """
    for name, value in (("height", height), ("width", width), ("depth", depth)):
        _validate.integer(name, value, minimum=4 if name != "depth" else 1)
    # the weights, before any is drawn: Dense(64) on the flattened 32 channels of a quarter
    # of the image, the first 3x3 convolution over depth channels (x4 in training: the
    # weight, its gradient, Adam's two slots)
    weights = (height // 4) * (width // 4) * 32 * 64 + 9 * depth * 16
    _validate.memory("height, width and depth", 4 * 8 * weights,
                     f"the seed CNN on {_validate.count(height)}x{_validate.count(width)}x"
                     f"{_validate.count(depth)} images ({_validate.count(weights)} weights)")
    _validate.integer("classes", classes, minimum=2, maximum=10**6)
    data_format = _validate.choice("data_format", data_format, ["channels_last", "channels_first"])
    first = data_format == "channels_first"
    input_shape = (depth, height, width) if first else (height, width, depth)
    channel_axis = 1 if first else -1
    keep = 1.0 if _validate.boolean("dropout", dropout) else 0.0

    def conv_relu_bn(filters: int, size: int, **kwargs) -> list:
        return [Conv2D(filters, (size, size), padding="same", data_format=data_format, **kwargs),
                Activation("relu"), BatchNormalization(axis=channel_axis)]

    layers = [
        *conv_relu_bn(16, 3, input_shape=input_shape),
        *conv_relu_bn(16, 1),
        MaxPooling2D(pool_size=(2, 2), data_format=data_format),
        Dropout(0.25 * keep),
        *conv_relu_bn(32, 1),
        *conv_relu_bn(32, 1),
        MaxPooling2D(pool_size=(2, 2), data_format=data_format),
        Dropout(0.25 * keep),
        Flatten(data_format=data_format),
        Dense(64), Activation("relu"), BatchNormalization(),
        Dropout(0.5 * keep),
        Dense(classes), Activation("softmax"),
    ]
    model = Sequential(layers, name="seed_cnn", seed=seed, dtype=dtype)
    model.build()
    return model


def build_model(size: int, lr: float = 1e-4, *, epochs: int = 100, decay: bool = False,
                dropout: bool = True, bn_momentum: float = 0.99, seed: int = 0) -> Sequential:
    """The seed CNN for ``size x size x 3`` inputs, compiled as the seed compiles it:
    ``Adam(lr)`` (``decay=True``: old Keras ``decay = lr / epochs``, i.e.
    ``lr_t = lr / (1 + lr/epochs * t)``), categorical cross-entropy, accuracy."""
    model = seed_cnn(size, size, 3, 2, dropout=dropout, seed=seed)
    bn_momentum = _validate.in_range("bn_momentum", bn_momentum, 0.0, 1.0, high_open=False)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.momentum = bn_momentum
    rate = schedules.legacy_decay(lr, lr / epochs) if decay else lr
    model.compile(optimizer=optim.Adam(learning_rate=rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model
