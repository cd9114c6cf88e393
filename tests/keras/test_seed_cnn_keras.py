"""The seed's whole CNN in gdsim and in Keras with identical weights, on a fixed batch.

float64 on both sides: forward outputs, loss, every parameter gradient, and 20 Adam steps in
training mode (Dropout rate 0: Keras's masks cannot be reproduced) with the BatchNorm moving
statistics, to 1e-9 relative. float32: forward outputs and inference predictions to 1e-5
(float32 gradients through five BatchNorm layers legitimately differ by a few percent between
implementations, so they are compared in float64).

In float64 the loss is Keras-JAX's own categorical-crossentropy formula written with
``jax.numpy`` (normalise, clip to [1e-7, 1 - 1e-7], -sum y log p): both ``keras.losses`` and
``keras.ops.clip`` round to float32 precision even for float64 inputs (measured:
1.0234756469726562 for an exact 1.0234755890693341; Keras's ``result_type`` maps 64-bit
types to 32 bits), which would hide float64 agreement behind float32 noise. The float64
checks therefore run under the JAX backend (the one CI uses).
"""

import numpy as np
import pytest

from gdsim import keras_bridge, optim
from gdsim.studies.cnn.model import seed_cnn
from tests.keras.helpers import keras_dtype

FORMATS = ["channels_last", "channels_first"]


def batch(data_format, dtype, n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3)).astype(dtype)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2).copy()
    y = np.eye(2, dtype=dtype)[rng.integers(0, 2, n)]
    return x, y


def scrambled_model(data_format, dtype, size=16):
    """Random non-default BatchNorm weights and moving statistics, so nothing is trivially 0/1."""
    model = seed_cnn(size, size, 3, 2, data_format=data_format, dropout=False, seed=3, dtype=dtype)
    rng = np.random.default_rng(11)
    weights = model.get_weights()
    for layer_index, layer in enumerate(model.layers):
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    assert len(weights) == len(model.get_weights())
    return model


def relative_error(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300)


def crossentropy_float64(keras):
    """Keras-JAX's categorical crossentropy (from probabilities), per sample, in jax.numpy."""
    if keras.backend.backend() != "jax":
        pytest.skip("the float64 cross-checks compute the loss with jax.numpy")
    import jax.numpy as jnp

    def loss(y_true, y_pred):
        p = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
        p = jnp.clip(p, 1e-7, 1.0 - 1e-7)
        return -jnp.sum(y_true * jnp.log(p), axis=-1)

    return loss


def keras_loss_and_gradients(keras, keras_model, x, y):
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in keras_model.trainable_variables]
    non_trainable = [v.value for v in keras_model.non_trainable_variables]
    crossentropy = crossentropy_float64(keras)

    def loss_fn(trainable):
        prediction, _ = keras_model.stateless_call(trainable, non_trainable, x, training=True)
        return jnp.mean(crossentropy(y, prediction))

    loss, grads = jax.value_and_grad(loss_fn)(trainable)
    return float(loss), [np.asarray(g) for g in grads]


@pytest.mark.slow
@pytest.mark.parametrize("data_format", FORMATS)
def test_float64_forward_loss_and_every_gradient(keras_float64, data_format):
    keras = keras_float64
    x, y = batch(data_format, np.float64)
    model = scrambled_model(data_format, "float64")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    keras_model = keras_bridge.to_keras(model)

    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), rtol=1e-9, atol=1e-12)
    keras_loss, keras_grads = keras_loss_and_gradients(keras, keras_model, x, y)
    prediction = model(x, training=True)
    loss, grads = model.gradient(x, y, training=True)
    assert loss == float(model.loss(y, prediction))
    assert loss == pytest.approx(keras_loss, rel=1e-12)
    assert loss == pytest.approx(float(crossentropy_float64(keras)(y, prediction).mean()), rel=1e-14)
    assert len(grads) == len(keras_grads) == 22
    for index, (ours, theirs) in enumerate(zip(grads, keras_grads)):
        assert ours.shape == theirs.shape
        assert relative_error(ours, theirs) < 1e-9, f"gradient {index}"


@pytest.mark.slow
@pytest.mark.parametrize("data_format", FORMATS)
def test_float64_twenty_adam_steps_with_batchnorm_statistics(keras_float64, data_format):
    keras = keras_float64
    x, y = batch(data_format, np.float64)
    model = scrambled_model(data_format, "float64")
    model.compile(optimizer=optim.Adam(1e-3), loss="categorical_crossentropy")
    keras_model = keras_bridge.to_keras(model)
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=crossentropy_float64(keras))
    keras_losses = [float(keras_model.train_on_batch(x, y)) for _ in range(20)]
    history = model.fit(x, y, batch_size=len(x), epochs=20, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_losses, rtol=1e-9)
    for index, (ours, theirs) in enumerate(zip(model.get_weights(), keras_model.get_weights())):
        assert relative_error(ours, theirs) < 1e-9, f"weight {index} after 20 steps"


@pytest.mark.slow
@pytest.mark.parametrize("data_format", FORMATS)
def test_float32_forward_and_inference_predictions(keras, data_format):
    x, y = batch(data_format, np.float32, n=16, size=32)
    model = scrambled_model(data_format, "float32", size=32)
    keras_model = keras_bridge.to_keras(model)
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    training_output = keras_model(x, training=True)
    np.testing.assert_allclose(model(x, training=True), np.asarray(training_output), rtol=1e-5, atol=1e-6)


def test_parameter_counts_equal_keras(keras):
    model = seed_cnn(32, 32, 3, 2)
    keras_model = keras_bridge.to_keras(model)
    assert model.count_params() == keras_model.count_params() == 134_226
    trainable = sum(int(np.prod(v.shape)) for v in keras_model.trainable_variables)
    assert sum(w.size for w in model.trainable_weights) == trainable == 133_906
