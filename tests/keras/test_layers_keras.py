"""Every gdsim layer and loss against the same Keras 3 object (JAX backend), same weights.

- forward in float32 (rtol 1e-5) and float64 (1e-12);
- dL/dx and every dL/dw in float64 (1e-9 relative to the largest entry), with
  ``L = sum(R * y)``: Keras's gradient comes from ``jax.grad`` of ``layer.stateless_call``;
- BatchNormalization's moving statistics after a training call; Conv2D "same" padding splits;
  MaxPooling2D tie routing; Flatten order; losses and their gradients.

Float64 needs JAX's x64 mode as well as Keras's float64 floatx and dtype policy: without
``jax_enable_x64`` Keras-JAX silently creates float32 variables under a float64 policy.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from gdsim.nn import layers as gl
from gdsim.nn import losses as gloss


@pytest.fixture()
def k64(keras_float64):
    import jax

    with jax.enable_x64(True):
        yield keras_float64


# Each case: (id, gdsim factory, keras factory, input shape without batch, training)
def _cases():
    cases = []

    def add(case_id, ours, theirs, shape, training=True):
        # Keras-JAX runs tanh and BatchNormalization in float32 even under a float64 policy
        exact64 = "tanh" not in case_id and not case_id.startswith("bn-")
        cases.append(pytest.param(ours, theirs, shape, training, exact64, id=case_id))

    for act in [None, "relu", "softmax", "sigmoid", "tanh"]:
        add(f"dense-{act}", lambda a=act: gl.Dense(3, activation=a),
            lambda k, a=act: k.layers.Dense(3, activation=a), (4,))
    add("dense-3d-nobias", lambda: gl.Dense(2, use_bias=False),
        lambda k: k.layers.Dense(2, use_bias=False), (3, 4))
    for act in ["relu", "softmax", "sigmoid", "tanh", "linear"]:
        add(f"activation-{act}", lambda a=act: gl.Activation(a), lambda k, a=act: k.layers.Activation(a), (2, 5))
    add("relu-layer", lambda: gl.ReLU(), lambda k: k.layers.ReLU(), (6,))
    for fmt in ["channels_last", "channels_first"]:
        def shape(h, w, c, fmt=fmt):
            return (c, h, w) if fmt == "channels_first" else (h, w, c)
        for h, ksz, s in [(5, 3, 1), (4, 3, 2), (6, 2, 1), (5, 4, 2)]:
            add(f"conv-same-H{h}-k{ksz}-s{s}-{fmt}",
                lambda ksz=ksz, s=s, fmt=fmt: gl.Conv2D(3, ksz, strides=s, padding="same", data_format=fmt),
                lambda k, ksz=ksz, s=s, fmt=fmt: k.layers.Conv2D(3, ksz, strides=s, padding="same",
                                                                data_format=fmt), shape(h, h, 2))
        add(f"conv-valid-k3x2-s2x1-relu-{fmt}",
            lambda fmt=fmt: gl.Conv2D(2, (3, 2), strides=(2, 1), activation="relu", data_format=fmt),
            lambda k, fmt=fmt: k.layers.Conv2D(2, (3, 2), strides=(2, 1), activation="relu", data_format=fmt),
            shape(7, 5, 3))
        add(f"conv-1x1-nobias-{fmt}", lambda fmt=fmt: gl.Conv2D(4, 1, padding="same", use_bias=False, data_format=fmt),
            lambda k, fmt=fmt: k.layers.Conv2D(4, 1, padding="same", use_bias=False, data_format=fmt),
            shape(4, 4, 3))
        add(f"conv-1x1-s2-{fmt}", lambda fmt=fmt: gl.Conv2D(2, 1, strides=2, data_format=fmt),
            lambda k, fmt=fmt: k.layers.Conv2D(2, 1, strides=2, data_format=fmt), shape(5, 5, 3))
        add(f"conv-same-k2x3-s3x2-{fmt}",
            lambda fmt=fmt: gl.Conv2D(2, (2, 3), strides=(3, 2), padding="same", data_format=fmt),
            lambda k, fmt=fmt: k.layers.Conv2D(2, (2, 3), strides=(3, 2), padding="same", data_format=fmt),
            shape(7, 6, 2))
        add(f"maxpool-default-{fmt}", lambda fmt=fmt: gl.MaxPooling2D(data_format=fmt),
            lambda k, fmt=fmt: k.layers.MaxPooling2D(data_format=fmt), shape(5, 4, 2))
        add(f"maxpool-3-s1-{fmt}", lambda fmt=fmt: gl.MaxPooling2D(3, strides=1, data_format=fmt),
            lambda k, fmt=fmt: k.layers.MaxPooling2D(3, strides=1, data_format=fmt), shape(5, 5, 2))
        add(f"maxpool-same-s2-{fmt}", lambda fmt=fmt: gl.MaxPooling2D((3, 2), strides=2, padding="same",
                                                                    data_format=fmt),
            lambda k, fmt=fmt: k.layers.MaxPooling2D((3, 2), strides=2, padding="same", data_format=fmt),
            shape(5, 5, 2))
        add(f"flatten-{fmt}", lambda fmt=fmt: gl.Flatten(data_format=fmt),
            lambda k, fmt=fmt: k.layers.Flatten(data_format=fmt), shape(3, 2, 4))
    for training in [True, False]:
        add(f"bn-nhwc-train{training}", lambda: gl.BatchNormalization(),
            lambda k: k.layers.BatchNormalization(), (3, 4, 3), training)
        add(f"bn-nchw-train{training}", lambda: gl.BatchNormalization(axis=1),
            lambda k: k.layers.BatchNormalization(axis=1), (3, 4, 2), training)
        add(f"bn-dense-nocenter-train{training}",
            lambda: gl.BatchNormalization(center=False, momentum=0.9, epsilon=1e-2),
            lambda k: k.layers.BatchNormalization(center=False, momentum=0.9, epsilon=1e-2), (5,), training)
    add("dropout-inference", lambda: gl.Dropout(0.5), lambda k: k.layers.Dropout(0.5), (6,), False)
    add("dropout-rate0", lambda: gl.Dropout(0.0), lambda k: k.layers.Dropout(0.0), (6,), True)
    return cases


def _pair(ours_factory, keras_factory, keras, shape, dtype, seed):
    """A gdsim layer and a Keras layer built for ``shape`` with identical (random) weights."""
    rng = np.random.default_rng(seed)
    ours = ours_factory()
    ours.build(shape, dtype, rng)
    values = [rng.uniform(0.5, 1.5, w.shape) if w.ndim == 1 else rng.standard_normal(w.shape)
              for w in ours.get_weights()]
    ours.set_weights(values)
    theirs = keras_factory(keras)
    theirs.build((None,) + tuple(shape))
    theirs.set_weights([v.astype(dtype) for v in values])
    return ours, theirs


def _inputs(shape, dtype, seed, n=3):
    rng = np.random.default_rng(seed + 1)
    return (2 * rng.standard_normal((n,) + tuple(shape)) + 0.5).astype(dtype)


def _training_kwargs(layer, training):
    # stateless_call hands kwargs straight to call(); only some layers take `training`
    return {"training": training} if "training" in inspect.signature(layer.call).parameters else {}


def _keras_call(layer, x, training):
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    out, new_non_trainable = layer.stateless_call(trainable, non_trainable, x,
                                                  **_training_kwargs(layer, training))
    return np.asarray(out), [np.asarray(v) for v in new_non_trainable]


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / max(1e-300, float(np.max(np.abs(b))))


@pytest.mark.parametrize("ours_factory,keras_factory,shape,training,exact64", _cases())
def test_forward_float32(keras, ours_factory, keras_factory, shape, training, exact64):
    ours, theirs = _pair(ours_factory, keras_factory, keras, shape, np.float32, seed=11)
    x = _inputs(shape, np.float32, seed=11)
    want, _ = _keras_call(theirs, x, training)
    got = ours.forward(x, training=training)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.max(np.abs(want))))


@pytest.mark.parametrize("ours_factory,keras_factory,shape,training,exact64", _cases())
def test_forward_and_gradients_float64(k64, ours_factory, keras_factory, shape, training, exact64):
    """Exact cases: 1e-12 forward, 1e-9 gradients. Keras-JAX computes tanh and BatchNormalization
    in float32 even for float64 layers (``result_type`` maps float64 to float32 off TF), so
    those are held to float32 accuracy here and to 1e-12 in the ``keras.ops`` BN test below."""
    import jax
    import jax.numpy as jnp

    ours, theirs = _pair(ours_factory, keras_factory, k64, shape, np.float64, seed=5)
    assert all(v.dtype == "float64" for v in theirs.trainable_variables)
    x = _inputs(shape, np.float64, seed=5)
    got = ours.forward(x, training=training)
    r = np.random.default_rng(6).standard_normal(got.shape)
    non_trainable = [v.value for v in theirs.non_trainable_variables]
    kwargs = _training_kwargs(theirs, training)

    @jax.jit
    def keras_output_and_grads(x, trainable):
        # one compiled call: Keras's output and the VJP of sum(r * output)
        out, pullback = jax.vjp(lambda x, w: theirs.stateless_call(w, non_trainable, x, **kwargs)[0],
                                x, trainable)
        return out, pullback(jnp.asarray(r, out.dtype))

    trainable = [v.value for v in theirs.trainable_variables]
    want, (dx_want, dw_want) = keras_output_and_grads(x, trainable)
    assert want.dtype == (np.float64 if exact64 else want.dtype)
    # float32 BN gradients suffer cancellation (notes section 0.6): 1e-3 for those
    forward_tol, grad_tol = (1e-12, 1e-9) if exact64 else (1e-6, 1e-3 if training else 1e-5)
    assert _rel(got, want) < forward_tol
    dx = ours.backward(r)
    assert _rel(dx, dx_want) < grad_tol
    assert len(ours.grads) == len(dw_want)
    for g, g_want in zip(ours.grads, dw_want):
        assert g.shape == g_want.shape
        assert _rel(g, g_want) < grad_tol


@pytest.mark.parametrize("axis,shape", [(-1, (3, 4, 3)), (1, (3, 4, 2)), (-1, (5,)), (2, (3, 4, 2))])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_float64_matches_keras_ops_formula(k64, axis, shape, training):
    """Keras's BatchNormalization.call rebuilt from ``keras.ops.moments`` and
    ``keras.ops.batch_normalization`` (which stay float64 on JAX), gradients by jax.grad."""
    import jax
    import jax.numpy as jnp

    ops = k64.ops
    rng = np.random.default_rng(8)
    ours = gl.BatchNormalization(axis=axis, momentum=0.9)
    ours.build(shape, np.float64, rng)
    gamma, beta, moving_mean, moving_variance = (rng.uniform(0.5, 1.5, w.shape) for w in ours.get_weights())
    ours.set_weights([gamma, beta, moving_mean, moving_variance])
    x = _inputs(shape, np.float64, seed=8, n=4)
    rank = len(shape) + 1
    channel = axis % rank
    reduction = [a for a in range(rank) if a != channel]
    r = np.random.default_rng(9).standard_normal(x.shape)

    def keras_bn(x, gamma, beta):
        if training:
            mean, variance = ops.moments(x, axes=reduction)
        else:
            mean, variance = moving_mean, moving_variance
        out = ops.batch_normalization(x, mean, variance, axis=axis, offset=beta, scale=gamma, epsilon=1e-3)
        return out, mean, variance

    want, mean, variance = keras_bn(x, gamma, beta)
    got = ours.forward(x, training=training)
    assert _rel(got, want) < 1e-12
    if training:  # Keras: moving * momentum + batch * (1 - momentum), biased variance
        assert _rel(ours.moving_mean, moving_mean * 0.9 + np.asarray(mean) * (1 - 0.9)) < 1e-13
        assert _rel(ours.moving_variance, moving_variance * 0.9 + np.asarray(variance) * (1 - 0.9)) < 1e-13
    grads_want = jax.jit(jax.grad(lambda *a: jnp.sum(r * keras_bn(*a)[0]), argnums=(0, 1, 2)))(x, gamma, beta)
    dx = ours.backward(r)
    for got_grad, want_grad in zip([dx] + ours.grads, grads_want):
        assert _rel(got_grad, want_grad) < 1e-9


def _check_moving_statistics(keras_module, dtype, tol):
    ours, theirs = _pair(lambda: gl.BatchNormalization(momentum=0.9), lambda k: k.layers.BatchNormalization(
        momentum=0.9), keras_module, (4, 4, 3), np.dtype(dtype), seed=2)
    x = _inputs((4, 4, 3), np.dtype(dtype), seed=2, n=4)
    _, (moving_mean, moving_variance) = _keras_call(theirs, x, training=True)
    ours.forward(x, training=True)
    assert ours.moving_mean.dtype == np.dtype(dtype) and moving_mean.dtype == np.dtype(dtype)
    assert _rel(ours.moving_mean, moving_mean) < tol
    assert _rel(ours.moving_variance, moving_variance) < tol
    # the eager Keras call (what fit does per batch) updates the variables the same way
    theirs(x, training=True)
    np.testing.assert_allclose(np.asarray(theirs.moving_mean.value), moving_mean, rtol=0)


def test_batchnorm_moving_statistics_after_training_call_float32(keras):
    _check_moving_statistics(keras, "float32", 1e-6)


def test_batchnorm_moving_statistics_after_training_call_float64(k64):
    # float32 accuracy: the Keras-JAX layer computes its statistics in float32 (see above)
    _check_moving_statistics(k64, "float64", 1e-6)


def test_maxpool_ties_route_like_keras(k64):
    """ReLU -> BN makes every dead unit of a channel equal: many exact ties in each window."""
    import jax
    import jax.numpy as jnp

    ours, theirs = _pair(lambda: gl.MaxPooling2D(), lambda k: k.layers.MaxPooling2D(), k64, (6, 6, 2),
                         np.float64, seed=0)
    x = np.maximum(np.random.default_rng(3).standard_normal((4, 6, 6, 2)), 0)
    x = np.round(x, 1)  # more ties between non-zero values as well
    r = np.random.default_rng(4).standard_normal((4, 3, 3, 2))
    want = jax.grad(lambda x: jnp.sum(r * theirs(x)))(x)
    ours.forward(x, training=True)
    np.testing.assert_array_equal(ours.backward(r), np.asarray(want))


def test_flatten_channels_first_order_matches_keras(keras):
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 4)
    layer = gl.Flatten(data_format="channels_first")
    layer.build((3, 2, 4), np.float32)
    want = np.asarray(keras.layers.Flatten(data_format="channels_first")(x))
    np.testing.assert_array_equal(layer.forward(x), want)
    np.testing.assert_array_equal(want, x.transpose(0, 2, 3, 1).reshape(2, -1))


# ------------------------------------------------------------------------------ losses
def _loss_cases():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.05, 1, (6, 3))
    probs /= probs.sum(axis=-1, keepdims=True)
    onehot = np.eye(3)[rng.integers(0, 3, 6)]
    labels = rng.integers(0, 3, 6).astype(float)
    binary = rng.integers(0, 2, (6, 2)).astype(float)
    saturated = np.array([[1e-9, 1 - 1e-9, 0.0], [0.2, 0.3, 0.5]])
    return [
        pytest.param(gloss.MeanSquaredError(), "MeanSquaredError", {}, rng.standard_normal(6),
                     rng.standard_normal((6, 1)), id="mse-N-vs-N1"),
        pytest.param(gloss.MeanSquaredError(), "MeanSquaredError", {}, rng.standard_normal((6, 3)),
                     rng.standard_normal((6, 3)), id="mse-N3"),
        pytest.param(gloss.CategoricalCrossentropy(), "CategoricalCrossentropy", {}, onehot, probs, id="cce"),
        pytest.param(gloss.CategoricalCrossentropy(), "CategoricalCrossentropy", {}, onehot[:2], saturated,
                     id="cce-clipped"),
        pytest.param(gloss.CategoricalCrossentropy(label_smoothing=0.1), "CategoricalCrossentropy",
                     {"label_smoothing": 0.1}, onehot, 1.7 * probs, id="cce-smooth-unnormalized"),
        pytest.param(gloss.CategoricalCrossentropy(from_logits=True), "CategoricalCrossentropy",
                     {"from_logits": True}, onehot, 3 * rng.standard_normal((6, 3)), id="cce-logits"),
        pytest.param(gloss.SparseCategoricalCrossentropy(), "SparseCategoricalCrossentropy", {}, labels, probs,
                     id="scce"),
        pytest.param(gloss.SparseCategoricalCrossentropy(from_logits=True), "SparseCategoricalCrossentropy",
                     {"from_logits": True}, labels[:, None], rng.standard_normal((6, 3)), id="scce-logits"),
        pytest.param(gloss.BinaryCrossentropy(), "BinaryCrossentropy", {}, binary,
                     rng.uniform(0.01, 0.99, (6, 2)), id="bce"),
        pytest.param(gloss.BinaryCrossentropy(), "BinaryCrossentropy", {}, binary[:2, :1],
                     np.array([[0.0], [1.0 - 1e-9]]), id="bce-clipped"),
        pytest.param(gloss.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), "BinaryCrossentropy",
                     {"from_logits": True, "label_smoothing": 0.2}, binary, 2 * rng.standard_normal((6, 2)),
                     id="bce-logits-smooth"),
    ]


@pytest.mark.parametrize("ours,keras_name,kwargs,y_true,y_pred", _loss_cases())
def test_losses_float32(keras, ours, keras_name, kwargs, y_true, y_pred):
    theirs = getattr(keras.losses, keras_name)(**kwargs)
    p = y_pred.astype(np.float32)
    want = np.asarray(theirs(y_true.astype(np.float32), p))
    got = ours(y_true.astype(np.float32), p)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("ours,keras_name,kwargs,y_true,y_pred", _loss_cases())
def test_losses_float64_value_and_gradient(k64, ours, keras_name, kwargs, y_true, y_pred):
    import jax

    theirs = getattr(k64.losses, keras_name)(**kwargs)
    want, grad_want = jax.jit(jax.value_and_grad(lambda p: theirs(y_true, p)))(y_pred)
    assert np.asarray(want).dtype == np.float64
    # Keras-JAX's ops.mean accumulates in float32 even for float64 (MSE and BCE use it)
    tol = 1e-13 if keras_name.endswith("CategoricalCrossentropy") else 2e-7
    np.testing.assert_allclose(ours(y_true, y_pred), want, rtol=tol)
    grad = ours.grad(y_true, y_pred)
    assert grad.shape == y_pred.shape
    np.testing.assert_allclose(grad, grad_want, rtol=max(tol, 1e-10),
                               atol=max(tol, 1e-12) * float(np.max(np.abs(grad_want))))


def test_crossentropy_gradient_on_the_clip_boundary_is_half_like_jax(keras):
    import jax

    eps = np.float32(1e-7)
    p = np.array([[eps, np.float32(0.5)]], dtype=np.float32)
    y = np.array([[1.0, 1.0]], dtype=np.float32)
    want = jax.grad(lambda p: keras.losses.BinaryCrossentropy()(y, p))(p)
    got = gloss.BinaryCrossentropy().grad(y, p)
    np.testing.assert_allclose(got, want, rtol=1e-6)
