"""engine="fast" and engine="reference" give identical bits.

The reference engine is gdsim.nn.training over the reference layers; the fast engine is
gdsim.nn.fast. Checked three ways: every layer type's fast kernel against the layer
(hypothesis over shapes, strides, paddings, data formats, activations, BN axis, dropout rates),
small models trained by both engines, and the seed CNN (dropout on, a partial last batch,
2 epochs, validation data, checkpoint and resume): weights, History, predictions, equal.
"""

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from gdsim import optim
from gdsim.studies.cnn.model import seed_cnn
from gdsim.nn.fast import kernels
from gdsim.nn.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             MaxPooling2D, ReLU)
from gdsim.nn.model import Sequential

FORMATS = st.sampled_from(["channels_last", "channels_first"])
ACTIVATIONS = st.sampled_from(["linear", "relu", "sigmoid", "tanh", "softmax"])


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def _image_shape(data_format, h, w, c):
    return (c, h, w) if data_format == "channels_first" else (h, w, c)


@st.composite
def layer_cases(draw):
    """(layer factory, per-sample input shape) for any layer type."""
    kind = draw(st.sampled_from(["dense", "activation", "relu", "dropout", "conv", "pool", "bn",
                                 "flatten"]))
    fmt = draw(FORMATS)
    h, w, c = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    if kind == "dense":
        units, act, bias = draw(st.integers(1, 4)), draw(ACTIVATIONS), draw(st.booleans())
        return (lambda: Dense(units, activation=act, use_bias=bias)), (draw(st.integers(1, 5)),)
    if kind in ("activation", "relu"):
        act = draw(ACTIVATIONS)
        return ((lambda: Activation(act)) if kind == "activation" else ReLU), (h, w, c)
    if kind == "dropout":
        rate = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
        noise = draw(st.sampled_from([None, (None, 1, w, c)]))
        return (lambda: Dropout(rate, noise_shape=noise, seed=3)), (h, w, c)
    if kind == "flatten":
        return (lambda: Flatten(data_format=fmt)), (h, w, c)
    if kind == "bn":
        rank = draw(st.integers(1, 3))
        shape = (h, w, c)[:rank]
        axis = draw(st.sampled_from([-1] + list(range(1, rank + 1))))
        center, scale = draw(st.booleans()), draw(st.booleans())
        trainable = draw(st.booleans())
        return (lambda: BatchNormalization(axis=axis, center=center, scale=scale,
                                           trainable=trainable)), shape
    padding = draw(st.sampled_from(["valid", "same"]))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    assume(padding == "same" or (h >= k[0] and w >= k[1]))
    shape = _image_shape(fmt, h, w, c)
    if kind == "pool":
        return (lambda: MaxPooling2D(k, strides=s, padding=padding, data_format=fmt)), shape
    filters, act, bias = draw(st.integers(1, 3)), draw(ACTIVATIONS), draw(st.booleans())
    return (lambda: Conv2D(filters, k, strides=s, padding=padding, data_format=fmt, activation=act,
                           use_bias=bias)), shape


@settings(max_examples=300, deadline=None)
@given(case=layer_cases(), n=st.integers(1, 4), background=st.booleans(), seed=st.integers(0, 2**16))
def test_every_layer_kernel_equals_its_reference_layer(case, n, background, seed):
    """Three training steps (the kernel reusing its arrays and overwriting its temporaries, as
    in fit): the same outputs, dL/dx, weight gradients, moving statistics and mask streams."""
    factory, shape = case
    rng = np.random.default_rng(seed)
    reference, fast = factory(), factory()
    for layer in (reference, fast):
        layer.build(shape, np.float32, np.random.default_rng(seed))
    values = [w + rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(values)
    fast.set_weights(values)
    kernel = kernels.kernel_for(fast, background)
    for step in range((3)):
        x = rng.integers(-2, 3, (n,) + shape).astype(np.float32)  # few levels: max-pool ties
        g = rng.standard_normal((n,) + tuple(reference.compute_output_shape(shape))).astype(np.float32)
        kernel.prefetch(n)
        y_fast = kernel.forward(x.copy(), True).copy()
        dx_fast = kernel.backward(g.copy(), True, True)
        kernel.discard_prefetch()
        y_ref = reference.forward(x, training=True)
        dx_ref = reference.backward(g)
        assert np.array_equal(y_fast, y_ref, equal_nan=True), f"step {step} forward"
        assert np.array_equal(dx_fast, dx_ref, equal_nan=True), f"step {step} dL/dx"
        assert _same(kernel.take_grads(), reference.grads), f"step {step} weight gradients"
        assert _same(fast.get_weights(), reference.get_weights())
    if isinstance(reference, Dropout) and reference.generator is not None:
        assert fast.generator.bit_generator.state == reference.generator.bit_generator.state


def _fit_both(make, x, y, **fit_args):
    runs = []
    for engine in ("reference", "fast"):
        model = make()
        history = model.fit(x, y, verbose=0, engine=engine, **fit_args)
        runs.append((model, history.history))
    (ref, ref_history), (fast, fast_history) = runs
    assert _same(fast.get_weights(), ref.get_weights())
    assert fast_history == ref_history
    for slot in ref.optimizer_state.slots:
        assert _same(fast.optimizer_state.slots[slot], ref.optimizer_state.slots[slot])
    return ref, fast


@settings(max_examples=50, deadline=None)
# a one-sample batch (3 training samples, batches of 2): channels-first BatchNormalization's
# channel matrix is then a strided view, which must not change how its sums are grouped
@example(fmt="channels_first", size=3, filters=3, k=1, stride=1, padding="valid", act="linear",
         bn=True, rate=0.0, n=5, batch=2, shuffle=True, seed=0)
@given(fmt=FORMATS, size=st.integers(3, 6), filters=st.integers(1, 3), k=st.integers(1, 3),
       stride=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]), act=ACTIVATIONS,
       bn=st.booleans(), rate=st.sampled_from([0.0, 0.5]), n=st.integers(5, 13),
       batch=st.integers(2, 6), shuffle=st.sampled_from([True, False, "batch"]),
       seed=st.integers(0, 100))
def test_small_convolutional_models_train_to_the_same_bits(fmt, size, filters, k, stride, padding,
                                                            act, bn, rate, n, batch, shuffle, seed):
    assume(padding == "same" or size >= k + 1)
    shape = _image_shape(fmt, size, size, 2)
    channel_axis = 1 if fmt == "channels_first" else -1

    def make():
        layers = [Conv2D(filters, k, strides=stride, padding=padding, data_format=fmt,
                         activation=act, input_shape=shape)]
        if bn:
            layers += [BatchNormalization(axis=channel_axis), ReLU()]
        layers += [MaxPooling2D(2, padding="same", data_format=fmt), Flatten(data_format=fmt),
                   Dropout(rate), Dense(3), Activation("softmax")]
        model = Sequential(layers, seed=seed)
        model.compile(optimizer=optim.Adam(0.05), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    ref, fast = _fit_both(make, x, y, batch_size=batch, epochs=2, shuffle=shuffle,
                          validation_split=0.25)
    np.testing.assert_array_equal(fast.predict(x, engine="fast"), ref.predict(x, engine="reference"))


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 5), act=ACTIVATIONS, bn_axis=st.sampled_from([-1, 1, 2]),
       rate=st.sampled_from([0.0, 0.25, 0.5]), optimizer=st.sampled_from(["sgd", "adam", "rmsprop"]),
       clipnorm=st.sampled_from([None, 1.0]), seed=st.integers(0, 100))
def test_small_dense_models_train_to_the_same_bits(width, act, bn_axis, rate, optimizer, clipnorm,
                                                   seed):
    """Dense on a rank-3 input, BatchNormalization over either feature axis, dropout, and the
    optimizers with and without the flat update (clipnorm refuses it)."""
    def make():
        model = Sequential([Dense(width, activation=act, input_shape=(3, 4)),
                            BatchNormalization(axis=bn_axis), Dropout(rate), Flatten(), Dense(1)],
                           seed=seed)
        opt = {"sgd": optim.SGD(0.05, momentum=0.9), "adam": optim.Adam(0.01),
               "rmsprop": optim.RMSprop(0.01)}[optimizer]
        opt.clipnorm = clipnorm
        model.compile(optimizer=opt, loss="mse")
        return model

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((11, 3, 4)).astype(np.float32)
    y = rng.standard_normal((11, 1)).astype(np.float32)
    _fit_both(make, x, y, batch_size=4, epochs=2)


def test_weights_assigned_in_another_dtype_train_as_the_reference_does():
    """Weights assigned directly as float64 arrays (``set_weights`` would cast them): the
    reference computes those layers in float64; the fast engine hands such steps to it."""
    def make():
        model = Sequential([Conv2D(3, (3, 3), padding="same"),
                            BatchNormalization(), Activation("relu"), Flatten(), Dense(1)], seed=3)
        model.build((6, 6, 2))
        model.compile(optimizer=optim.Adam(0.01), loss="mse")
        bn = model.layers[1]
        bn.gamma, bn.moving_variance = bn.gamma.astype(np.float64), bn.moving_variance.astype(np.float64) * 1.5
        return model

    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((12, 1)).astype(np.float32)
    ref, fast = _fit_both(make, x, y, batch_size=4, epochs=2, validation_split=0.25)
    np.testing.assert_array_equal(fast.predict(x), ref.predict(x, engine="reference"))


def test_a_weight_cast_to_float64_and_back_during_fit_trains_as_the_reference_does():
    """A callback sets BatchNormalization's gamma to float64 after epoch 0 and back after
    epoch 1: the fast engine hands epoch 1 to the reference, whose Adam slots for gamma become
    float64 and stay so; the fast steps after it must not flatten them with the rest."""
    from gdsim.nn.callbacks import Callback

    class CastGamma(Callback):
        def on_epoch_end(self, epoch, logs=None):
            bn = self.model.layers[1]
            if epoch in (0, 1):
                bn.gamma = bn.gamma.astype(np.float64 if epoch == 0 else np.float32)

    def make():
        model = Sequential([Conv2D(4, (3, 3), padding="same"), BatchNormalization(),
                            Activation("relu"), MaxPooling2D((2, 2)), Dropout(0.3, seed=1),
                            Flatten(), Dense(2, activation="softmax")], seed=5)
        model.build((16, 16, 3))
        model.compile(optimizer=optim.Adam(0.01), loss="categorical_crossentropy")
        return model

    rng = np.random.default_rng(1)
    x = rng.random((96, 16, 16, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 96)]
    _fit_both(make, x, y, batch_size=32, epochs=4, validation_split=0.25, seed=0, shuffle=True,
              callbacks=[CastGamma()])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_seed_cnn_engines_agree_through_checkpoint_and_resume(tmp_path, data_format):
    """The seed CNN with dropout, a partial last batch (44 = 3*12 + 8), validation data: two
    epochs by the reference engine; by the fast engine one epoch, a checkpoint, and a resumed
    second epoch. Same weights, History and predictions."""
    rng = np.random.default_rng(5)
    shape = (3, 16, 16) if data_format == "channels_first" else (16, 16, 3)
    x = rng.random((44,) + shape, dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 44)]
    validation = (rng.random((10,) + shape, dtype=np.float32),
                  np.eye(2, dtype=np.float32)[rng.integers(0, 2, 10)])

    def make():
        model = seed_cnn(16, 16, 3, 2, data_format=data_format)
        model.compile(optimizer=optim.Adam(1e-2), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    args = dict(batch_size=12, verbose=0, validation_data=validation)
    reference = make()
    want = reference.fit(x, y, epochs=2, engine="reference", **args).history
    path = tmp_path / "run.npz"
    make().fit(x, y, epochs=1, checkpoint=path, **args)
    fast = make()
    got = fast.fit(x, y, epochs=2, checkpoint=path, resume=True, **args).history
    assert got == want
    assert _same(fast.get_weights(), reference.get_weights())
    np.testing.assert_array_equal(fast.predict(validation[0]), reference.predict(validation[0]))
    assert fast.evaluate(*validation, return_dict=True) == reference.evaluate(
        *validation, return_dict=True, engine="reference")


def test_engine_is_checked():
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((2, 2)), np.zeros((2, 1))
    for call in (lambda: model.fit(x, y, engine="turbo", verbose=0),
                 lambda: model.evaluate(x, y, engine="turbo"),
                 lambda: model.predict(x, engine="turbo")):
        with pytest.raises(ValueError, match="engine"):
            call()


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_fit_bits_do_not_depend_on_the_blas_threads_outside(engine):
    """Same seed, same bits on any number of cores: whatever NumPy's OpenBLAS thread count is
    outside (1 or 2), fit runs the GEMMs at one thread, and restores the count afterwards."""
    from gdsim.nn import blas
    from gdsim.nn.callbacks import Callback

    class Threads(Callback):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def on_train_batch_begin(self, batch, logs=None):
            self.seen.add(blas.get_threads())

    rng = np.random.default_rng(4)
    x = rng.random((20, 16, 16, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 20)]
    before = blas.get_threads()
    runs = []
    try:
        for outside in (1, 2):
            blas.set_threads(outside)
            model = seed_cnn(16, 16, 3, 2)
            model.compile(optimizer=optim.Adam(1e-2), loss="categorical_crossentropy")
            threads = Threads()
            history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, engine=engine,
                                callbacks=[threads])
            runs.append((model.get_weights(), history.history, model.predict(x)))
            if blas.available():
                assert threads.seen == {1} and blas.get_threads() == outside
    finally:
        if before is not None:
            blas.set_threads(before)
    (w1, h1, p1), (w2, h2, p2) = runs
    assert _same(w1, w2) and h1 == h2 and np.array_equal(p1, p2)
