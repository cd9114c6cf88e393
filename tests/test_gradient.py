"""Sequential.gradient: the batch's mean loss and dL/dw, checked against float64 central
differences (hypothesis), against the step fit takes, and for leaving the model unchanged."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim import optim
from gdsim.studies.cnn.model import seed_cnn
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             MaxPooling2D)
from gdsim.nn.model import Sequential

STEP = 1e-6


def _state(model):
    return [w.copy() for w in model.get_weights()]


def _small_cnn(seed, fmt, act, dropout):
    shape = (2, 5, 5) if fmt == "channels_first" else (5, 5, 2)
    axis = 1 if fmt == "channels_first" else -1
    model = Sequential([Conv2D(2, 3, padding="same", data_format=fmt, activation=act,
                               input_shape=shape),
                        BatchNormalization(axis=axis), MaxPooling2D(2, data_format=fmt),
                        Flatten(data_format=fmt), Dropout(0.5 if dropout else 0.0), Dense(3),
                        Activation("softmax")], seed=seed, dtype="float64")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.build()
    return model, shape


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 1000), fmt=st.sampled_from(["channels_last", "channels_first"]),
       act=st.sampled_from(["tanh", "sigmoid", "linear"]),
       mode=st.sampled_from(["inference", "batch_statistics", "training"]))
def test_gradient_matches_central_differences_in_float64(seed, fmt, act, mode):
    """Every entry of every trainable weight perturbed by +-h; the loss is gradient()'s own
    float. In training mode the dropout generator is reset before each evaluation so that all
    of them see the same mask (dropout is on only in the modes that use it)."""
    model, shape = _small_cnn(seed, fmt, act, dropout=mode == "training")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4,) + shape)
    y = np.eye(3)[rng.integers(0, 3, 4)]
    kwargs = {"training": mode == "training", "batch_statistics": mode == "batch_statistics"}
    dropout = model.layers[4]
    start = dropout.generator.bit_generator.state

    def loss():
        dropout.generator.bit_generator.state = start
        return model.gradient(x, y, **kwargs)[0]

    value, grads = model.gradient(x, y, **kwargs)
    assert isinstance(value, float) and value == loss()
    assert len(grads) == len(model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        assert g.shape == w.shape and g.dtype == np.float64
        numeric = np.zeros_like(w)
        flat, out = w.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + STEP
            plus = loss()
            flat[i] = saved - STEP
            minus = loss()
            flat[i] = saved
            out[i] = (plus - minus) / (2 * STEP)
        scale = max(1.0, float(np.abs(numeric).max()))
        assert float(np.abs(g - numeric).max()) / scale < 1e-6


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_gradient_in_training_mode_is_what_fits_first_step_uses(data_format):
    """The seed CNN (dropout on): the optimizer step applied to gradient(training=True) gives
    the weights fit has after its first step, bit for bit; the reported loss is fit's."""
    rng = np.random.default_rng(2)
    shape = (3, 16, 16) if data_format == "channels_first" else (16, 16, 3)
    x = rng.random((12,) + shape, dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 12)]
    models = []
    for _ in range(2):
        model = seed_cnn(16, 16, 3, 2, data_format=data_format)
        model.compile(optimizer=optim.Adam(1e-2), loss="categorical_crossentropy")
        models.append(model)
    fitted, probed = models
    history = fitted.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0)
    before = _state(probed)
    loss, grads = probed.gradient(x, y, training=True)
    assert _same(_state(probed), before)  # moving statistics untouched
    assert loss == history.history["loss"][0]
    params = [w.copy() for w in probed.trainable_weights]
    params, _ = probed.optimizer.step(params, grads, probed.optimizer.init(params))
    trainable = iter(params)
    for layer in probed.layers:
        layer.set_trainable_weights([next(trainable) for _ in layer.trainable_weights])
    assert _same(probed.trainable_weights, fitted.trainable_weights)


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def test_gradient_changes_nothing_but_the_dropout_generator():
    model = seed_cnn(16, 16, 3, 2)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((6, 16, 16, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    model.fit(x, y, epochs=1, verbose=0)
    weights, state = _state(model), model.optimizer_state
    slots = {k: [a.copy() for a in v] for k, v in state.slots.items()}
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    draws = [layer.generator.bit_generator.state for layer in dropouts]
    for kwargs in ({}, {"batch_statistics": True}, {"training": True}):
        loss, grads = model.gradient(x, y, **kwargs)
        assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)
        assert grads[0] is not model.layers[0].grads[0]  # fresh arrays
    assert _same(_state(model), weights)
    assert model.optimizer_state is state and int(state.iterations) == 1
    assert all(_same(state.slots[k], v) for k, v in slots.items())
    # only training=True drew masks, advancing each dropout generator as a training step would
    assert [layer.generator.bit_generator.state for layer in dropouts] != draws


def test_batch_statistics_option_of_evaluate_predict_and_gradient():
    """batch_statistics normalizes with the batch's own statistics: for a lone BN layer the
    output is the standardized batch, the moving statistics stay, and it differs from inference."""
    model = Sequential([BatchNormalization(input_shape=(3,))], dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, (64, 3))
    layer = model.layers[0]
    out = model.predict(x, batch_statistics=True, batch_size=64)
    want = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.epsilon)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean, np.zeros(3))
    assert not np.allclose(model.predict(x), out)
    zeros = np.zeros_like(x)
    assert model.evaluate(x, zeros, batch_statistics=True, batch_size=64) == pytest.approx(
        np.mean(want ** 2), rel=1e-12)
    loss, _ = model.gradient(x, zeros, batch_statistics=True)
    assert loss == pytest.approx(np.mean(want ** 2), rel=1e-12)


def test_gradient_checks_its_arguments():
    model = Sequential([Dense(1, input_shape=(2,))])
    x, y = np.zeros((3, 2)), np.zeros((3, 1))
    with pytest.raises(ValueError, match="compile"):
        model.gradient(x, y)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="training"):
        model.gradient(x, y, training="yes")
    with pytest.raises(TypeError, match="batch_statistics"):
        model.predict(x, batch_statistics=1)
    with pytest.raises(ValueError, match="same number of samples"):
        model.gradient(x, y[:2])
