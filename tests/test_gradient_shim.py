"""TEMP shim tests (replaced by the ``tiers`` branch's tests of the same public methods):
``Sequential.gradient`` is dL/dw by central differences and leaves the model as it was;
``predict/evaluate(batch_statistics=True)`` normalise with the batch's statistics."""

import numpy as np

from gdsim import optim
from gdsim.nn.layers import Activation, BatchNormalization, Dense, Dropout
from gdsim.nn.model import Sequential


def _model():
    model = Sequential([Dense(4, input_shape=(3,)), Activation("tanh"), BatchNormalization(),
                        Dropout(0.5), Dense(2), Activation("softmax")], dtype="float64", seed=1)
    model.compile(optimizer=optim.Adam(1e-2), loss="categorical_crossentropy")
    model.build()
    return model


def test_gradient_is_the_central_difference_and_changes_nothing():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), np.eye(2)[rng.integers(0, 2, 6)]
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    for batch_statistics in (False, True):
        loss, grads = model.gradient(x, y, batch_statistics=batch_statistics)
        assert [g.shape for g in grads] == [w.shape for w in model.trainable_weights]
        weights = model.get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(before, weights))
        trainable = [w.copy() for w in model.trainable_weights]
        h = 1e-6
        for k, w in enumerate(trainable):
            for index in np.ndindex(w.shape):
                values = []
                for sign in (1, -1):
                    shifted = [v.copy() for v in trainable]
                    shifted[k][index] += sign * h
                    _set_trainable(model, shifted)
                    values.append(model.gradient(x, y, batch_statistics=batch_statistics)[0])
                _set_trainable(model, trainable)
                assert abs((values[0] - values[1]) / (2 * h) - grads[k][index]) < 1e-6
        mode = "batch" if batch_statistics else "inference"
        assert loss == model.evaluate(x, y, batch_size=6, batch_statistics=batch_statistics), mode
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def _set_trainable(model, arrays):
    for layer in model.trainable_layers:
        count = len(layer.trainable_weights)
        layer.set_trainable_weights(arrays[:count])
        arrays = arrays[count:]


def test_batch_statistics_normalise_each_batch_by_its_own_mean():
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(8, 3))
    model = Sequential([BatchNormalization(input_shape=(3,), center=False, scale=False)],
                       dtype="float64")
    model.build()
    out = model.predict(x, batch_size=4, batch_statistics=True)
    for half in (out[:4], out[4:]):
        np.testing.assert_allclose(half.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(model.layers[0].moving_mean, np.zeros(3))
    np.testing.assert_array_equal(model.predict(x), x / np.sqrt(1 + 1e-3))
