"""Max-pooling first (gdsim.nn.fast.pool_first): a chunk's maps between a convolution and its
max-pooling, run on the pooled values, give the reference tier's bits -- compared as bit
patterns (signed zeros and NaNs included), for any block of layers and weights, with the
conditions holding or not -- and the seed CNN's two blocks do run pooling first."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdsim.nn import blas, training
from gdsim.nn.fast import chunked_inference, pool_first
from gdsim.nn.fast.engine import FastEngine
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             MaxPooling2D)
from gdsim.nn.model import Sequential
from gdsim.studies.cnn.model import seed_cnn


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _blocks(engine, shape):
    plan = engine.chunked.plan(shape, np.dtype(np.float32), False)
    assert plan is not None
    return [step.run.__self__ for steps in plan.steps.values() for step in steps
            if isinstance(getattr(step.run, "__self__", None), pool_first.PooledBlock)]


def _engine(model):
    model.background = False  # this process alone: the chunks are computed here
    return FastEngine(model)


SPECIALS = st.sampled_from([0.0, -0.0, 1e-38, -1e-38, np.inf, -np.inf, np.nan, 3.0e38])


@st.composite
def blocks(draw):
    """Conv2D, up to three maps, MaxPooling2D (then Flatten and Dense), channels last, with
    weights that may break any of the module's conditions (zeros of either sign, inv <= 0,
    infinities) and the per-sample input shape."""
    k, s, pool = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(2, 3))
    # large enough for a 'valid' window after the convolution's stride
    h, w, c = draw(st.integers(s * pool, 8)), draw(st.integers(s * pool, 8)), draw(st.integers(1, 3))
    layers = [Conv2D(draw(st.integers(2, 4)), (k, k), strides=(s, s), padding="same",
                     activation=draw(st.sampled_from(["linear", "linear", "relu", "tanh"])),
                     use_bias=draw(st.booleans()))]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["relu", "linear", "bn", "bn", "dropout", "sigmoid"]))
        if kind == "bn":
            layers.append(BatchNormalization(center=draw(st.booleans()), scale=draw(st.booleans())))
        elif kind == "dropout":
            layers.append(Dropout(0.5, seed=1))
        else:
            layers.append(Activation(kind))
    layers.append(MaxPooling2D((pool, pool), strides=draw(st.integers(1, pool)),
                               padding=draw(st.sampled_from(["same", "valid"]))))
    return layers + [Flatten(), Dense(2)], (h, w, c)


def _perturb(model, draw_value, rate, rng):
    """Weights and moving statistics with a fraction ``rate`` of the entries replaced by
    ``draw_value()``."""
    def spoil(values):
        values = values.copy()
        for index in np.ndindex(values.shape):
            if rng.random() < rate:
                values[index] = draw_value()
        return values

    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            if layer.scale:
                layer.gamma = spoil(rng.uniform(0.2, 1.5, layer.gamma.shape).astype(np.float32))
            if layer.center:
                layer.beta = spoil(rng.normal(0, 0.3, layer.beta.shape).astype(np.float32))
            layer.moving_mean = rng.normal(0, 0.3, layer.moving_mean.shape).astype(np.float32)
            layer.moving_variance = rng.uniform(0.5, 2, layer.moving_variance.shape).astype(np.float32)
        elif getattr(layer, "use_bias", False) and isinstance(layer, Conv2D):
            layer.bias = spoil(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # infinities and NaNs on purpose
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(block=blocks(), n=st.integers(2, 40), seed=st.integers(0, 10_000), data=st.data())
def test_any_block_gives_the_reference_bits(monkeypatch, block, n, seed, data):
    """Random blocks, weights and inputs (with zeros of both signs, infinities and NaNs among
    them): the chunked forward's bit patterns are those of the same chunks in the layers'
    order, and the reference's, whichever order the block took."""
    monkeypatch.setattr(chunked_inference, "TARGET_ROWS", 1)
    layers, shape = block
    model = Sequential(layers, seed=seed)
    model.build(shape)
    rng = np.random.default_rng(seed)
    _perturb(model, lambda: data.draw(SPECIALS), data.draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])), rng)
    engine = _engine(model)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    for index in np.ndindex(x.shape):
        if rng.random() < 0.05:
            x[index] = data.draw(SPECIALS)
    with blas.blas_threads(1):
        got = engine.chunked.forward(x, False).copy()
        want = training.forward(model.layers, x, training=False)
        monkeypatch.setattr(pool_first.PooledBlock, "_commutes", lambda self: False)
        in_order = engine.chunked.forward(x, False)
    # pooling first changes no bit of the chunks, NaN payloads included
    assert np.array_equal(_bits(got), _bits(in_order))
    # and the chunks give the reference's bits (where a NaN meets a NaN, its payload may be
    # the other's: chunked_inference's one known exception, with non-finite weights)
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(got))
    assert np.array_equal(_bits(got)[~nan], _bits(want)[~nan])


def _positive_gamma(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.gamma = rng.uniform(0.5, 1.5, layer.gamma.shape).astype(np.float32)
            layer.beta = rng.normal(0, 0.3, layer.beta.shape).astype(np.float32)
            layer.moving_mean = rng.normal(0, 0.3, layer.moving_mean.shape).astype(np.float32)
        elif isinstance(layer, Conv2D):
            layer.bias = rng.normal(0, 0.1, layer.bias.shape).astype(np.float32)


def test_the_seed_cnn_pools_first_in_both_blocks_with_the_reference_bits():
    """Conv2D, ReLU, BatchNormalization, MaxPooling2D twice: both blocks pool first (for every
    chunk size of the plan) once BatchNormalization's inv is positive, and predict gives the
    reference's bit patterns."""
    model = seed_cnn(32, 32, 3, 2)
    _positive_gamma(model, 1)
    engine = _engine(model)
    x = np.random.default_rng(1).random((32, 32, 32, 3), dtype=np.float32)
    with blas.blas_threads(1):
        got = engine.chunked.forward(x, False)
        found = _blocks(engine, x.shape)
        want = training.forward(model.layers, x, training=False)
    assert len(found) == 2 * len(engine.chunked.plan(x.shape, x.dtype, False).steps)
    assert all(block.pooling_first for block in found)
    assert np.array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("spoil", ["negative gamma", "zero gamma", "-0 shift", "inf bias", "tanh"])
def test_a_broken_condition_sends_its_block_back_to_the_layers_order(spoil):
    """Each condition of the module, broken in the first block only (Conv2D at layer 3, ReLU,
    BatchNormalization, MaxPooling2D): that block runs in the layers' order for that batch,
    the other still pools first, and the bits are the reference's; mended, the block pools
    first again at the next batch."""
    from gdsim.nn import activations

    model = seed_cnn(32, 32, 3, 2)
    _positive_gamma(model, 2)
    conv, relu, bn = model.layers[3:6]
    engine = _engine(model)
    x = np.random.default_rng(2).random((32, 32, 32, 3), dtype=np.float32)
    if spoil == "negative gamma":
        bn.gamma[3] = -bn.gamma[3]
    elif spoil == "zero gamma":
        bn.gamma[0] = 0.0
    elif spoil == "-0 shift":  # shift = beta - mean*inv is -0 where beta is -0 and mean is 0
        bn.beta[1], bn.moving_mean[1] = -0.0, 0.0
    elif spoil == "inf bias":
        conv.bias[2] = np.inf
    else:
        relu.activation = activations.get("tanh")
    with blas.blas_threads(1):
        got = engine.chunked.forward(x, False)
        first, second = _blocks(engine, x.shape)[:2]
        assert (first.pooling_first, second.pooling_first) == (False, True)
        assert np.array_equal(_bits(got), _bits(training.forward(model.layers, x, training=False)))
        _positive_gamma(model, 2)
        relu.activation = activations.get("relu")
        engine.chunked.forward(x, False)
        assert first.pooling_first
