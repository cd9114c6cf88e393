"""The reference tier: Keras-like layers whose forward and backward passes read as their math.

Every layer follows one small protocol (:class:`Layer`)::

    layer.build(input_shape, dtype, rng)        # input_shape excludes the batch axis
    y = layer.forward(x, training=False)        # x: (N, *input_shape); caches what backward needs
    dx = layer.backward(dy)                     # dL/dx for the last forward; sets layer.grads
    layer.trainable_weights / layer.grads       # aligned lists, Keras order

One module per layer family: :mod:`~gdsim.nn.layers.dense`, :mod:`~gdsim.nn.layers.activation`,
:mod:`~gdsim.nn.layers.reshape` (Flatten), :mod:`~gdsim.nn.layers.dropout`,
:mod:`~gdsim.nn.layers.conv`, :mod:`~gdsim.nn.layers.pooling`,
:mod:`~gdsim.nn.layers.normalization`. The few computations whose bits depend on how they are
carried out (im2col and the GEMM shapes, channel sums, dropout masks, max-pooling ties) are
calls into :mod:`gdsim.nn.ops`, which the fast engine (:mod:`gdsim.nn.fast`) calls too.

Frozen layers (``trainable = False``) behave as in Keras: ``trainable_weights`` and
``grads`` are empty, ``non_trainable_weights`` holds every weight, and BatchNormalization
normalizes with its moving statistics even when ``training=True``.
"""

from gdsim.nn.layers.activation import Activation, ReLU
from gdsim.nn.layers.base import Layer
from gdsim.nn.layers.conv import Conv2D
from gdsim.nn.layers.dense import Dense
from gdsim.nn.layers.dropout import Dropout
from gdsim.nn.layers.normalization import BatchNormalization
from gdsim.nn.layers.pooling import MaxPooling2D
from gdsim.nn.layers.reshape import Flatten

__all__ = ["Layer", "Dense", "Activation", "ReLU", "Flatten", "Dropout", "Conv2D", "MaxPooling2D",
           "BatchNormalization"]
