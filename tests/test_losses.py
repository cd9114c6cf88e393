"""Loss values vs direct formulas, gradients vs float64 central differences, Keras shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim.nn import losses

STEP = 1e-6


def _numeric_grad(loss, y_true, y_pred):
    grad = np.zeros_like(y_pred)
    flat, out = y_pred.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + STEP
        plus = float(loss(y_true, y_pred))
        flat[i] = saved - STEP
        minus = float(loss(y_true, y_pred))
        flat[i] = saved
        out[i] = (plus - minus) / (2 * STEP)
    return grad


def _assert_grad(loss, y_true, y_pred, tol=1e-6):
    analytic = loss.grad(y_true, y_pred)
    assert analytic.shape == y_pred.shape and analytic.dtype == y_pred.dtype
    numeric = _numeric_grad(loss, y_true, y_pred)
    scale = max(1.0, float(np.max(np.abs(numeric))))
    assert np.max(np.abs(analytic - numeric)) / scale < tol


shapes = st.tuples(st.integers(1, 5), st.integers(1, 4))


# ------------------------------------------------------------------------------ MSE
@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_mse_value_and_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal(shape), rng.standard_normal(shape)
    mse = losses.MeanSquaredError()
    value = mse(y, p)
    assert value.shape == () and value.dtype == np.float64
    np.testing.assert_allclose(value, np.mean((y - p) ** 2), rtol=1e-13)
    _assert_grad(mse, y, p)


@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_half_mse_is_half_of_keras_mse_with_its_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal(shape), rng.standard_normal(shape)
    half = losses.get("half_mean_squared_error")
    assert isinstance(half, losses.HalfMeanSquaredError)
    f, t = p[:, :1], y[:, 0]  # one output: L = (1/2n) sum (f - y)^2
    np.testing.assert_allclose(half(t, f), np.sum((f[:, 0] - t) ** 2) / (2 * shape[0]), rtol=1e-13)
    np.testing.assert_allclose(half(y, p), losses.MeanSquaredError()(y, p) / 2, rtol=1e-13)
    np.testing.assert_allclose(half.grad(y, p), losses.MeanSquaredError().grad(y, p) / 2, rtol=1e-13)
    _assert_grad(half, y, p)


@settings(max_examples=20)
@given(n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_mse_rank_mismatch_is_squeezed_not_broadcast(n, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal(n), rng.standard_normal((n, 1))
    mse = losses.get("mse")
    np.testing.assert_allclose(mse(y, p), np.mean((y - p[:, 0]) ** 2), rtol=1e-13)
    np.testing.assert_allclose(mse(p, y), mse(y, p), rtol=0)  # symmetric rule
    _assert_grad(mse, y, p)


def test_mse_seed_shapes_give_keras_value_not_the_broadcast_one():
    # y_true (N,) as in the seed program, y_pred (N, 1) from Dense(1)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([[1.5], [2.5], [3.5], [5.5]], dtype=np.float32)
    value = losses.MeanSquaredError()(y, p)  # errors .25 .25 .25 2.25
    assert value.dtype == np.float32 and value == np.float32(0.75)
    naive = np.mean((y - p) ** 2)  # (4, 4) broadcast: what Keras does NOT compute
    assert naive == pytest.approx(4.0)


def test_mse_float32_order_sum_then_divide():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((37, 3)).astype(np.float32)
    p = rng.standard_normal((37, 3)).astype(np.float32)
    per_sample = np.mean(np.square(y - p), axis=-1)
    want = np.sum(per_sample) / np.float32(37)
    got = losses.MeanSquaredError()(y, p)
    assert got.dtype == np.float32 and got == want


# ------------------------------------------------------------------------------ crossentropy
def _probabilities(rng, shape, low=0.05):
    p = rng.uniform(low, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


@settings(max_examples=40)
@given(shape=st.tuples(st.integers(1, 4), st.integers(2, 4)), smoothing=st.sampled_from([0.0, 0.1]),
       unnormalized=st.booleans(), seed=st.integers(0, 2**16))
def test_categorical_crossentropy_value_and_gradient(shape, smoothing, unnormalized, seed):
    rng = np.random.default_rng(seed)
    y = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    p = _probabilities(rng, shape) * (rng.uniform(0.5, 2.0) if unnormalized else 1.0)
    cce = losses.CategoricalCrossentropy(label_smoothing=smoothing)
    t = y * (1 - smoothing) + smoothing / shape[1]
    want = np.mean(-np.sum(t * np.log(p / p.sum(axis=-1, keepdims=True)), axis=-1))
    np.testing.assert_allclose(cce(y, p), want, rtol=1e-13)
    _assert_grad(cce, y, p)
    _assert_grad(losses.CategoricalCrossentropy(clip=False), y, p)


@settings(max_examples=30)
@given(shape=st.tuples(st.integers(1, 4), st.integers(2, 4)), seed=st.integers(0, 2**16))
def test_from_logits_is_exact_log_softmax(shape, seed):
    rng = np.random.default_rng(seed)
    y = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    z = 3 * rng.standard_normal(shape)
    cce = losses.CategoricalCrossentropy(from_logits=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(cce(y, z), np.mean(-np.sum(y * log_softmax, axis=-1)), rtol=1e-12, atol=1e-14)
    _assert_grad(cce, y, z)
    softmax = np.exp(log_softmax)
    np.testing.assert_allclose(cce.grad(y, z), (softmax - y) / shape[0], rtol=1e-12, atol=1e-15)


def test_crossentropy_clipping_matches_keras_jax_and_zeroes_the_gradient():
    # Dense(2, softmax) with logit gap 40, true class the small one (notes section 4)
    z = np.array([[0.0, 40.0]], dtype=np.float32)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    y = np.array([[1.0, 0.0]], dtype=np.float32)
    clipped = losses.CategoricalCrossentropy()(y, p)
    assert clipped == pytest.approx(-np.log(np.float32(1e-7)), rel=1e-6)  # 16.118
    np.testing.assert_array_equal(losses.CategoricalCrossentropy().grad(y, p), 0)
    assert losses.CategoricalCrossentropy(from_logits=True)(y, z) == pytest.approx(40.0, rel=1e-6)
    # unclipped log of the probabilities: exact here (exp(-40) is a normal float32) ...
    assert losses.CategoricalCrossentropy(clip=False)(y, p) == pytest.approx(40.0, rel=1e-6)
    # ... and inf once the probability underflows to 0
    assert np.isinf(losses.CategoricalCrossentropy(clip=False)(y, np.array([[0.0, 1.0]])))


def test_sparse_matches_one_hot_and_accepts_column_labels():
    rng = np.random.default_rng(1)
    p = _probabilities(rng, (6, 3))
    labels = rng.integers(0, 3, 6)
    dense, sparse = losses.CategoricalCrossentropy(), losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(sparse(labels, p), dense(np.eye(3)[labels], p), rtol=1e-15)
    np.testing.assert_allclose(sparse(labels[:, None], p), sparse(labels, p), rtol=0)
    np.testing.assert_allclose(sparse.grad(labels, p), dense.grad(np.eye(3)[labels], p), rtol=1e-15)
    _assert_grad(sparse, labels.astype(float), p)
    with pytest.raises(ValueError, match="labels"):
        sparse(np.array([0, 3, 1, 1, 1, 1]), p)


@settings(max_examples=40)
@given(shape=shapes, smoothing=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 2**16))
def test_binary_crossentropy_value_and_gradient(shape, smoothing, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, shape).astype(float)
    p = rng.uniform(0.02, 0.98, shape)
    bce = losses.BinaryCrossentropy(label_smoothing=smoothing)
    t = y * (1 - smoothing) + smoothing / 2
    want = np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)))
    np.testing.assert_allclose(bce(y, p), want, rtol=1e-13)
    _assert_grad(bce, y, p)
    z = 3 * rng.standard_normal(shape)
    logits = losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(logits(y, z), np.mean(-(t * np.log(s) + (1 - t) * np.log(1 - s))),
                               rtol=1e-12)
    _assert_grad(logits, y, z)


def test_binary_crossentropy_clip_and_half_gradient_on_the_boundary():
    bce = losses.BinaryCrossentropy()
    p = np.array([[0.0, 1.0, 0.5]])
    y = np.array([[1.0, 0.0, 1.0]])
    np.testing.assert_allclose(bce(y, p), np.mean([-np.log(1e-7), -np.log(1e-7), np.log(2)]), rtol=1e-9)
    g = bce.grad(y, p)
    assert g[0, 0] == 0 and g[0, 1] == 0 and g[0, 2] == pytest.approx(-2 / 3)
    on_edge = np.array([[1e-7]])
    assert bce.grad(np.array([[1.0]]), on_edge)[0, 0] == pytest.approx(-0.5 / 1e-7)


def test_get_and_errors():
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    mine = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(mine) is mine
    assert losses.get("sparse_categorical_crossentropy").name == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match="loss"):
        losses.get("mean_square_error")
    with pytest.raises(ValueError, match="same shape"):
        losses.CategoricalCrossentropy()(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=2.0)
