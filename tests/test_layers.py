"""Hand-written backward passes of every layer vs float64 central finite differences.

The scalar checked is ``f = sum(R * layer.forward(x))`` with a fixed random ``R``, so
``backward(R)`` must return ``df/dx`` and set ``grads = [df/dw, ...]``; every entry of ``x``
and of every trainable weight is perturbed (shapes are kept small for speed).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gdsim.nn import initializers
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Layer,
                             MaxPooling2D, ReLU)

STEP = 1e-6
TOL = 1e-6  # relative to the largest gradient entry


def _numeric(f, array: np.ndarray) -> np.ndarray:
    """Central differences of scalar ``f()`` w.r.t. every entry of ``array`` (edited in place)."""
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + STEP
        plus = f()
        flat[i] = saved - STEP
        minus = f()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * STEP)
    return grad


def _close(analytic, numeric, what):
    scale = max(1.0, float(np.max(np.abs(numeric))))
    err = float(np.max(np.abs(analytic - numeric))) / scale
    assert err < TOL, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def check_gradients(layer: Layer, x: np.ndarray, training: bool, seed: int) -> np.ndarray:
    """Assert every gradient of ``layer`` matches finite differences; returns the output."""
    rng = np.random.default_rng(seed)
    y = layer.forward(x, training=training)
    assert y.shape[1:] == layer.compute_output_shape(x.shape[1:])
    assert y.dtype == np.float64
    weights = rng.standard_normal(y.shape)
    dx = layer.backward(weights.copy())
    grads = [g.copy() for g in layer.grads]
    assert len(grads) == len(layer.trainable_weights)

    def f():
        return float(np.sum(weights * layer.forward(x, training=training)))

    assert dx.shape == x.shape
    _close(dx, _numeric(f, x), f"{type(layer).__name__} dL/dx")
    for i, (w, g) in enumerate(zip(layer.trainable_weights, grads)):
        assert g.shape == w.shape and g.dtype == w.dtype
        _close(g, _numeric(f, w), f"{type(layer).__name__} dL/dw[{i}]")
    return y


def _build(layer: Layer, shape, seed: int = 0, dtype=np.float64) -> Layer:
    layer.build(shape, dtype, np.random.default_rng(seed))
    return layer


def _randomize(layer: Layer, rng: np.random.Generator) -> None:
    """Non-trivial weights (biases, gamma, beta, moving stats all away from 0/1)."""
    values = []
    for w in layer.get_weights():
        values.append(rng.uniform(0.5, 1.5, w.shape) if w.ndim == 1 else rng.standard_normal(w.shape))
    layer.set_weights(values)


activations = st.sampled_from([None, "relu", "tanh", "sigmoid", "linear"])
data_formats = st.sampled_from(["channels_last", "channels_first"])


# ------------------------------------------------------------------------------ Dense
@settings(max_examples=60)
@given(n=st.integers(1, 3), extra=st.lists(st.integers(1, 3), max_size=1), fan_in=st.integers(1, 4),
       units=st.integers(1, 4), activation=st.sampled_from([None, "relu", "tanh", "sigmoid", "softmax"]),
       use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_dense_gradients(n, extra, fan_in, units, activation, use_bias, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(extra) + (fan_in,)
    layer = _build(Dense(units, activation=activation, use_bias=use_bias), shape, seed)
    _randomize(layer, rng)
    check_gradients(layer, rng.standard_normal((n,) + shape), training=True, seed=seed)


def test_dense_forward_formula_and_glorot_limit():
    layer = _build(Dense(3, activation="relu"), (4,), seed=1, dtype=np.float32)
    limit = np.sqrt(6 / (4 + 3))
    assert layer.kernel.dtype == np.float32 and np.all(np.abs(layer.kernel) <= limit)
    assert np.all(layer.bias == 0)
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x), np.maximum(x @ layer.kernel + layer.bias, 0))
    assert layer.count_params() == 15


@settings(max_examples=30)
@given(name=st.sampled_from(["relu", "tanh", "sigmoid", "softmax", "linear"]),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_activation_gradients(name, shape, seed):
    rng = np.random.default_rng(seed)
    layer = _build(Activation(name), tuple(shape))
    x = 2 * rng.standard_normal((2,) + tuple(shape))
    y = check_gradients(layer, x, training=False, seed=seed)
    if name == "softmax":
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    expected = {"relu": [0, 0, 3], "linear": x[0], "tanh": np.tanh(x[0]),
                "sigmoid": 1 / (1 + np.exp(-x[0])),
                "softmax": np.exp(x[0]) / np.exp(x[0]).sum()}
    for name, want in expected.items():
        np.testing.assert_allclose(_build(Activation(name), (3,)).forward(x)[0], want, rtol=1e-14)
    relu = _build(ReLU(), (3,))
    np.testing.assert_array_equal(relu.forward(x), [[0, 0, 3]])
    assert _build(Activation(None), (3,)).activation.name == "linear"  # Keras: None means linear
    assert ReLU.base_name() == "re_lu"
    # relu'(0) = 0 and a dead unit passes 0 even for an infinite upstream gradient
    np.testing.assert_array_equal(relu.backward(np.array([[np.inf, np.inf, 1.0]])), [[0, 0, 1]])
    # huge negative inputs: no overflow warning, exact 0 limit
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert _build(Activation("sigmoid"), (1,)).forward(np.array([[-1000.0]]))[0, 0] == 0.0


# ------------------------------------------------------------------------------ Conv2D
@settings(max_examples=150)
@given(n=st.integers(1, 2), h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 3),
       filters=st.integers(1, 3), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]), data_format=data_formats,
       use_bias=st.booleans(), activation=st.sampled_from([None, "relu", "tanh"]),
       seed=st.integers(0, 2**16))
def test_conv2d_gradients(n, h, w, c, filters, kh, kw, sh, sw, padding, data_format, use_bias,
                          activation, seed):
    if padding == "valid":
        assume(h >= kh and w >= kw)
    rng = np.random.default_rng(seed)
    shape = (c, h, w) if data_format == "channels_first" else (h, w, c)
    layer = _build(Conv2D(filters, (kh, kw), strides=(sh, sw), padding=padding, data_format=data_format,
                          use_bias=use_bias, activation=activation), shape, seed)
    _randomize(layer, rng)
    assert layer.kernel.shape == (kh, kw, c, filters)
    check_gradients(layer, rng.standard_normal((n,) + shape), training=True, seed=seed)


def _direct_conv(x, kernel, bias, strides, pads):
    """Textbook NHWC cross-correlation with explicit loops (reference for tiny inputs)."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    kh, kw, _, f = kernel.shape
    ho = (xp.shape[1] - kh) // strides[0] + 1
    wo = (xp.shape[2] - kw) // strides[1] + 1
    y = np.zeros((x.shape[0], ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw, :]
            y[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    return y


@pytest.mark.parametrize("h,k,s,pads", [(5, 3, 1, (1, 1)), (4, 3, 2, (0, 1)), (6, 2, 1, (0, 1)),
                                        (5, 4, 2, (1, 2))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_same_padding_split_matches_direct_convolution(h, k, s, pads, data_format):
    rng = np.random.default_rng(h * 10 + k)
    shape = (2, h, h) if data_format == "channels_first" else (h, h, 2)
    layer = _build(Conv2D(3, k, strides=s, padding="same", data_format=data_format), shape)
    _randomize(layer, rng)
    x = rng.standard_normal((2,) + shape)
    y = layer.forward(x)
    x_nhwc = x.transpose(0, 2, 3, 1) if data_format == "channels_first" else x
    want = _direct_conv(x_nhwc, layer.kernel, layer.bias, (s, s), (pads, pads))
    if data_format == "channels_first":
        want = want.transpose(0, 3, 1, 2)
    assert want.shape[1:] == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ pooling
@settings(max_examples=100)
@given(n=st.integers(1, 2), h=st.integers(1, 7), w=st.integers(1, 7), c=st.integers(1, 3),
       ph=st.integers(1, 3), pw=st.integers(1, 3), strides=st.one_of(st.none(), st.tuples(
           st.integers(1, 3), st.integers(1, 3))), padding=st.sampled_from(["valid", "same"]),
       data_format=data_formats, seed=st.integers(0, 2**16))
def test_maxpool_gradients(n, h, w, c, ph, pw, strides, padding, data_format, seed):
    if padding == "valid":
        assume(h >= ph and w >= pw)
    rng = np.random.default_rng(seed)
    shape = (c, h, w) if data_format == "channels_first" else (h, w, c)
    layer = _build(MaxPooling2D((ph, pw), strides=strides, padding=padding, data_format=data_format), shape)
    # distinct values, well separated relative to STEP: the max is differentiable
    x = rng.permutation(n * h * w * c).reshape((n,) + shape) * 0.01
    check_gradients(layer, x.astype(np.float64), training=True, seed=seed)


def test_maxpool_ties_route_to_first_element_in_row_major_window_order():
    layer = _build(MaxPooling2D(), (4, 4, 1))
    x = np.zeros((1, 4, 4, 1))
    x[0, 2:, 2:, 0] = [[1, 2], [2, 1]]
    layer.forward(x)
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])
    overlapping = _build(MaxPooling2D(3, strides=1), (4, 4, 1))
    overlapping.forward(np.zeros((1, 4, 4, 1)))
    dx = overlapping.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_maxpool_default_geometry_floors_odd_sizes():
    layer = _build(MaxPooling2D(), (5, 5, 2))
    assert layer.compute_output_shape((5, 5, 2)) == (2, 2, 2)
    x = np.arange(50.0).reshape(1, 5, 5, 2)
    np.testing.assert_array_equal(layer.forward(x), x[:, 1:4:2, 1:4:2, :])


# ------------------------------------------------------------------------------ BatchNorm
@settings(max_examples=100)
@given(data=st.data(), shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       n=st.integers(2, 3), training=st.booleans(), center=st.booleans(), scale=st.booleans(),
       seed=st.integers(0, 2**16))
def test_batchnorm_gradients(data, shape, n, training, center, scale, seed):
    rank = len(shape) + 1
    axis = data.draw(st.sampled_from(list(range(1, rank)) + list(range(-rank + 1, 0))))
    rng = np.random.default_rng(seed)
    layer = _build(BatchNormalization(axis=axis, center=center, scale=scale), tuple(shape))
    _randomize(layer, rng)
    x = 3 * rng.standard_normal((n,) + tuple(shape)) + 1
    check_gradients(layer, x, training=training, seed=seed)


def test_batchnorm_training_values_and_moving_update():
    rng = np.random.default_rng(3)
    layer = _build(BatchNormalization(momentum=0.9, epsilon=1e-3), (4, 4, 3))
    _randomize(layer, rng)
    gamma, beta, mm, mv = layer.get_weights()
    x = rng.standard_normal((5, 4, 4, 3)) * 2 + 1
    y = layer.forward(x, training=True)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased variance
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.moving_mean, 0.9 * mm + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, 0.9 * mv + 0.1 * var, rtol=1e-12)
    # inference: moving statistics, no update
    before = layer.get_weights()
    y = layer.forward(x, training=False)
    np.testing.assert_allclose(y, gamma * (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3)
                               + beta, rtol=1e-12, atol=1e-12)
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_batchnorm_uses_moving_stats_in_training_and_has_no_gradients():
    rng = np.random.default_rng(4)
    layer = _build(BatchNormalization(), (3,))
    _randomize(layer, rng)
    layer.trainable = False
    x = rng.standard_normal((6, 3))
    before = layer.get_weights()
    np.testing.assert_array_equal(layer.forward(x, training=True), layer.forward(x, training=False))
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
    dx = layer.backward(np.ones((6, 3)))
    assert layer.grads == []
    np.testing.assert_allclose(dx, np.broadcast_to(before[0] / np.sqrt(before[3] + 1e-3), (6, 3)))


def test_batchnorm_weight_order_is_keras():
    layer = _build(BatchNormalization(), (2, 2, 5))
    assert layer.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(5))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(5))
    assert layer.count_params() == 20
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2


# ------------------------------------------------------------------------------ Dropout
def test_dropout_mask_statistics_scaling_and_backward_uses_same_mask():
    layer = _build(Dropout(0.25, seed=7), (100, 100), dtype=np.float32)
    x = np.ones((4, 100, 100), np.float32)
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {np.float32(0), np.float32(1) / np.float32(0.75)}
    kept = np.mean(y != 0)
    assert abs(kept - 0.75) < 0.01  # 40,000 Bernoulli(0.75): sd 0.002
    g = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx, np.where(y != 0, g / np.float32(0.75), 0))
    y2 = layer.forward(x, training=True)
    assert not np.array_equal(y, y2)  # a new mask every training call


def test_dropout_seeded_determinism_and_inference_identity():
    a = _build(Dropout(0.5, seed=3), (50,), seed=1)
    b = _build(Dropout(0.5, seed=3), (50,), seed=2)
    x = np.arange(1.0, 101.0).reshape(2, 50)
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    # without a seed the mask comes from build()'s generator
    c = _build(Dropout(0.5), (50,), seed=5)
    d = _build(Dropout(0.5), (50,), seed=5)
    np.testing.assert_array_equal(c.forward(x, training=True), d.forward(x, training=True))
    assert c.forward(x, training=False) is not None
    np.testing.assert_array_equal(c.forward(x, training=False), x)
    np.testing.assert_array_equal(c.backward(np.ones_like(x)), np.ones_like(x))


def test_dropout_noise_shape_shares_mask_and_rate_edges():
    layer = _build(Dropout(0.5, noise_shape=(None, 1, 6), seed=0), (4, 6))
    y = layer.forward(np.ones((3, 4, 6)), training=True)
    assert np.all(y == y[:, :1, :])
    assert np.all(_build(Dropout(1.0), (3,)).forward(np.ones((2, 3)), training=True) == 0)
    np.testing.assert_array_equal(_build(Dropout(0.0), (3,)).forward(np.ones((2, 3)), training=True), 1)


# ------------------------------------------------------------------------------ Flatten
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_order_and_gradient(data_format):
    rng = np.random.default_rng(0)
    shape = (2, 3, 4)
    layer = _build(Flatten(data_format=data_format), shape)
    x = rng.standard_normal((2,) + shape)
    y = check_gradients(layer, x, training=False, seed=1)
    want = np.moveaxis(x, 1, -1).reshape(2, -1) if data_format == "channels_first" else x.reshape(2, -1)
    np.testing.assert_array_equal(y, want)


# ------------------------------------------------------------------------------ API
def test_set_weights_errors_name_layer_index_and_shapes():
    layer = Dense(2, name="head")
    _build(layer, (3,))
    with pytest.raises(ValueError, match=r"'head'.*weight 1 \(bias\) has shape \(2,\), received shape \(3,\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="expects 2 weights"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="not built"):
        Dense(2).set_weights([np.zeros((3, 2)), np.zeros(2)])
    layer.set_weights([np.ones((3, 2)), np.full(2, 0.5)])
    assert layer.kernel.dtype == np.float64
    np.testing.assert_array_equal(layer.get_weights()[1], [0.5, 0.5])


def test_trainable_weights_roundtrip_and_frozen_layers():
    layer = _build(Dense(2), (3,), dtype=np.float32)
    new = [np.ones((3, 2), np.float32), np.zeros(2, np.float32)]
    layer.set_trainable_weights(new)
    np.testing.assert_array_equal(layer.kernel, 1)
    with pytest.raises(ValueError, match="shape"):
        layer.set_trainable_weights([np.ones((2, 2)), np.zeros(2)])
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.forward(np.ones((1, 3), np.float32))
    assert layer.backward(np.ones((1, 2), np.float32)).shape == (1, 3) and layer.grads == []


def test_bad_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(TypeError, match="units"):
        Dense(2.5)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="data_format"):
        Conv2D(2, 3, data_format="nhwc")
    with pytest.raises(TypeError, match="kernel_size"):
        Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=2.0)
    with pytest.raises(ValueError, match="activation"):
        Activation("swishy")
    with pytest.raises(ValueError, match="initializer"):
        Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="axis"):
        _build(BatchNormalization(axis=0), (3,))
    with pytest.raises(ValueError, match="empty"):
        _build(Conv2D(1, 5), (3, 3, 1))
    with pytest.raises(ValueError, match="dtype"):
        Dense(2).build((3,), np.int32, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        Dense(2).build((3,), np.float32, None)
    layer = _build(Dense(2), (3,))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(batch, 3\)"):
        layer.forward(np.ones((2, 4)))


def test_keras_style_names_and_configs():
    assert [cls.base_name() for cls in (Dense, Conv2D, BatchNormalization, MaxPooling2D, Dropout,
                                        Flatten, Activation)] == [
        "dense", "conv2d", "batch_normalization", "max_pooling2d", "dropout", "flatten", "activation"]
    config = Conv2D(16, 3, padding="SAME", input_shape=(8, 8, 3)).get_config()
    assert config["kernel_size"] == (3, 3) and config["padding"] == "same"
    assert config["input_shape"] == (8, 8, 3) and config["strides"] == (1, 1)
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)


# ------------------------------------------------------------------------------ chains
def _seed_like_network(data_format: str) -> list[Layer]:
    axis = 1 if data_format == "channels_first" else -1
    return [Conv2D(3, 3, padding="same", data_format=data_format), Activation("relu"),
            BatchNormalization(axis=axis), Conv2D(4, 1, padding="same", data_format=data_format),
            Activation("relu"), BatchNormalization(axis=axis), MaxPooling2D(data_format=data_format),
            Flatten(data_format=data_format), Dense(5), Activation("relu"), BatchNormalization(),
            Dense(2), Activation("softmax")]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_seed_like_network_end_to_end_gradients(data_format):
    """The seed CNN's layer pattern chained by hand, crossentropy on top, training mode:
    every parameter gradient and dL/dx against finite differences."""
    from gdsim.nn import losses

    rng = np.random.default_rng(0)
    shape = (2, 6, 6) if data_format == "channels_first" else (6, 6, 2)
    net = _seed_like_network(data_format)
    current = shape
    for layer in net:
        _build(layer, current, seed=1)
        current = layer.compute_output_shape(current)
    for layer in net:
        _randomize(layer, rng)
    x = rng.standard_normal((3,) + shape)
    y = np.eye(2)[[0, 1, 1]]
    loss = losses.CategoricalCrossentropy()

    def f():
        h = x
        for layer in net:
            h = layer.forward(h, training=True)
        return float(loss(y, h))

    h = x
    for layer in net:
        h = layer.forward(h, training=True)
    g = loss.grad(y, h)
    for layer in reversed(net):
        g = layer.backward(g)
    _close(g, _numeric(f, x), "network dL/dx")
    for layer in net:
        grads = [a.copy() for a in layer.grads]
        for i, (w, a) in enumerate(zip(layer.trainable_weights, grads)):
            _close(a, _numeric(f, w), f"network {type(layer).__name__} dL/dw[{i}]")


def test_results_follow_the_batch_size_and_the_last_forward():
    rng = np.random.default_rng(0)
    layer = _build(Conv2D(2, 3, padding="same"), (5, 5, 2))
    reference = _build(Conv2D(2, 3, padding="same"), (5, 5, 2))
    reference.set_weights(layer.get_weights())
    big, small = rng.standard_normal((4, 5, 5, 2)), rng.standard_normal((2, 5, 5, 2))
    first = layer.forward(big, training=True)
    layer.forward(small, training=True)
    again = layer.forward(big, training=True)
    np.testing.assert_array_equal(first, again)  # the same input, the same result
    g = rng.standard_normal(first.shape)
    dx = layer.backward(g)
    reference.forward(big, training=True)
    np.testing.assert_array_equal(dx, reference.backward(g))
    for a, b in zip(layer.grads, reference.grads):
        np.testing.assert_array_equal(a, b)
    # returned arrays are not overwritten by later calls
    kept = first.copy()
    layer.forward(small, training=True)
    np.testing.assert_array_equal(first, kept)


def test_float32_layers_compute_in_float32():
    rng = np.random.default_rng(0)
    for layer, shape in [(Conv2D(2, 3, padding="same"), (4, 4, 3)), (BatchNormalization(), (4, 4, 3)),
                         (MaxPooling2D(), (4, 4, 3)), (Dense(3), (5,)), (Dropout(0.5), (5,))]:
        _build(layer, shape, dtype=np.float32)
        x = rng.standard_normal((2,) + shape)  # float64 input is cast to the layer dtype
        y = layer.forward(x, training=True)
        assert y.dtype == np.float32
        dx = layer.backward(np.ones_like(y))
        assert dx.dtype == np.float32 and all(g.dtype == np.float32 for g in layer.grads)


def test_blas_thread_control_roundtrip():
    from gdsim.nn import blas

    if not blas.available():
        assert blas.set_threads(1) is False and blas.get_threads() is None
        return
    before = blas.get_threads()
    with blas.blas_threads(1) as changed:
        assert changed and blas.get_threads() == 1
    assert blas.get_threads() == before
    with pytest.raises(ValueError, match="n must be >= 1"):
        blas.set_threads(0)


def test_blas_threads_blocks_overlapping_in_two_threads_restore_the_count_once_both_end():
    """Two models fitting in two threads: the first fit to end must not hand the other one
    the outside thread count (two threads round its GEMMs differently)."""
    import threading

    from gdsim.nn import blas

    if not blas.available():
        pytest.skip("no OpenBLAS thread control in this process")
    before = blas.get_threads()
    blas.set_threads(3)
    try:
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen = {}

        def second():
            first_in.wait()
            with blas.blas_threads(2):
                second_in.set()
                first_out.wait()
                seen["after the first ended"] = blas.get_threads()

        thread = threading.Thread(target=second)
        thread.start()
        with blas.blas_threads(1):
            first_in.set()
            second_in.wait()
            seen["both running"] = blas.get_threads()
        first_out.set()
        thread.join()
        assert seen == {"both running": 2, "after the first ended": 2}
        assert blas.get_threads() == 3
        with blas.blas_threads(1), blas.blas_threads(2), blas.blas_threads(1):
            pass
        assert blas.get_threads() == 3
        with blas.blas_threads(1):
            with blas.blas_threads(2):
                with blas.blas_threads(1):
                    assert blas.get_threads() == 1
                assert blas.get_threads() == 2
            assert blas.get_threads() == 1
    finally:
        blas.set_threads(before)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 4), n=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), out_h=st.integers(1, 5), out_w=st.integers(1, 5),
       extra=st.integers(0, 2), data=st.data())
def test_im2col_t_is_its_definition(c, n, kh, kw, sh, sw, out_h, out_w, extra, data):
    """ops.im2col_t (one strided view copied once) against its docstring's formula, element by
    element, on any window, stride and padded size (also a non-contiguous input); windows that
    do not fit are refused, never read past the array."""
    from gdsim.nn import ops

    hp, wp = kh + sh * (out_h - 1) + extra, kw + sw * (out_w - 1) + extra
    xp = np.random.default_rng(0).normal(size=(c, n, hp, 2 * wp)).astype(np.float32)
    if data.draw(st.booleans()):
        xp = xp[:, :, :, ::2]  # every second column: a strided input
    else:
        xp = np.ascontiguousarray(xp[:, :, :, :wp])
    got = ops.im2col_t(xp, kh, kw, sh, sw, out_h, out_w)
    want = np.empty_like(got)
    for a in range(kh):
        for b in range(kw):
            for ch in range(c):
                for s in range(n):
                    for i in range(out_h):
                        for j in range(out_w):
                            want[(a * kw + b) * c + ch, (s * out_h + i) * out_w + j] = xp[ch, s, i * sh + a, j * sw + b]
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="do not fit"):
        ops.im2col_t(xp, kh, kw, sh, sw, out_h + extra + 1, out_w)
