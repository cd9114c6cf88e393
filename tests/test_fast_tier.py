"""The fast tier's own mechanisms (gdsim.nn.fast), each against the reference layer it drives.

Engine-level equality (whole training runs) is in tests/test_engines.py; here the pieces:
staged im2col, dropout masks drawn ahead and rewound, background weight gradients, the
max-pool halves, kept arrays, and the first layer's skipped dL/dx.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gdsim.nn.fast import kernels
from gdsim.nn.layers import Conv2D, Dense, Dropout, MaxPooling2D


def _built(layer, shape, dtype=np.float32, seed=0):
    layer.build(shape, dtype, np.random.default_rng(seed))
    return layer


def test_first_layer_skips_input_gradient_with_the_same_weight_gradients():
    rng = np.random.default_rng(0)
    layer = _built(Conv2D(2, 3, padding="same"), (4, 4, 1), np.float64)
    kernel = kernels.kernel_for(layer, use_background=False)
    x = rng.standard_normal((2, 4, 4, 1))
    y = kernel.forward(x, False)
    assert kernel.backward(np.ones_like(y), False, False) is None
    layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    assert all(np.array_equal(a, b) for a, b in zip(kernel.take_grads(), layer.grads))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_staged_batches_give_the_same_bits(data_format):
    """prepare_input builds a coming batch's patch matrix ahead (two slots in turn): the
    forward/backward of that very array are unchanged, and any other array is not fooled."""
    rng = np.random.default_rng(1)
    shape = (3, 5, 6) if data_format == "channels_first" else (5, 6, 3)
    layer = _built(Conv2D(4, 3, padding="same", data_format=data_format), shape)
    staged = kernels.kernel_for(layer, use_background=False)
    batches = [rng.standard_normal((2,) + shape).astype(np.float32) for _ in range(4)]
    staged.prepare_input(batches[0])
    for i, x in enumerate(batches):
        ours = staged.forward(x, False).copy()
        if i + 1 < len(batches):  # the next batch is built while this one is in flight
            staged.prepare_input(batches[i + 1])
        ours_dx = staged.backward(np.ones_like(ours), True, False)
        theirs = layer.forward(x, training=True)
        theirs_dx = layer.backward(np.ones_like(theirs))
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours_dx, theirs_dx)
        assert all(np.array_equal(a, b) for a, b in zip(staged.take_grads(), layer.grads))
    staged.prepare_input(batches[0])
    np.testing.assert_array_equal(staged.forward(batches[1].copy(), False), layer.forward(batches[1]))


def test_pending_background_gradients_are_waited_for():
    """``take_grads`` right after ``backward`` holds the finished background result."""
    rng = np.random.default_rng(0)
    layer = _built(Dense(5), (4,))
    kernel = kernels.kernel_for(layer, use_background=True)
    x = rng.random((7, 4), dtype=np.float32)
    g = rng.random((7, 5), dtype=np.float32)
    kernel.forward(x, False)
    kernel.backward(g.copy(), True, True)
    assert kernel._pending is not None
    np.testing.assert_array_equal(kernel.take_grads()[0], x.T @ g)
    assert kernel._pending is None
    layer.forward(x, training=True)
    layer.backward(g)
    assert all(np.array_equal(a, b) for a, b in zip(kernel.take_grads(), layer.grads))


@pytest.mark.parametrize("noise_shape", [None, (None, 1, 6)])
def test_dropout_prefetched_masks_are_the_serial_masks(noise_shape):
    """A mask drawn ahead on the background thread is the one forward would have drawn; a
    prefetch for another batch size is rewound, so the stream of masks never changes."""
    x = np.ones((3, 4, 6), dtype=np.float32)
    serial = _built(Dropout(0.4, noise_shape=noise_shape, seed=9), (4, 6))
    ahead = kernels.kernel_for(_built(Dropout(0.4, noise_shape=noise_shape, seed=9), (4, 6)), True)
    outputs = []
    for batch in (3, 3, 5, 3):
        ahead.prefetch(batch)  # batch 5 != 3: the prefetch for the third call is wrong
        ahead.prefetch(batch)  # a second prefetch before the forward draws nothing more
        outputs.append((serial.forward(x, training=True), ahead.forward(x, False)))
    for ours, theirs in outputs:
        np.testing.assert_array_equal(ours, theirs)
    assert not np.array_equal(outputs[0][0], outputs[1][0])
    assert serial.generator.bit_generator.state == ahead.layer.generator.bit_generator.state
    ahead.prefetch(3)
    ahead.discard_prefetch()  # a step that failed: the draw is undone
    assert serial.generator.bit_generator.state == ahead.layer.generator.bit_generator.state


def test_dropout_layers_sharing_a_generator_rewind_only_the_draws_not_taken():
    """Two Dropout layers built from one generator, both drawn ahead: when the step fails
    after the first took its mask, the second's rewind leaves the first's draw in place; when
    neither took theirs, the rewinds (last first) return to where both began."""
    x = np.ones((3, 6), dtype=np.float32)

    for first_took in (True, False):
        rng = np.random.default_rng(7)
        ahead = [kernels.kernel_for(Dropout(0.5), True) for _ in range(2)]
        for kernel in ahead:
            kernel.layer.build((6,), "float32", rng)  # no seed: the layer draws from rng itself
        assert ahead[0].layer.generator is ahead[1].layer.generator
        start = rng.bit_generator.state
        for kernel in ahead:
            kernel.prefetch(3)
        if first_took:
            ahead[0].forward(x, False)
        for kernel in reversed(ahead):  # as the engine undoes a failed step
            kernel.discard_prefetch()
        want = np.random.default_rng(7)
        if first_took:
            want.random((3, 6), dtype=np.float32)  # the first layer's draw stays taken
        assert rng.bit_generator.state == want.bit_generator.state, first_took
        assert first_took or rng.bit_generator.state == start


def test_a_failed_fit_with_two_dropouts_on_one_generator_continues_as_the_reference():
    """The engine-level case: a layer between two Dropout layers that share a generator
    raises in a step; the next fit gives the reference's generator state and loss."""
    from gdsim.nn.layers import Layer
    from gdsim.nn.model import Sequential

    class FailsOnce(Layer):
        armed = False

        def forward(self, x, training=False):
            if training and FailsOnce.armed:
                raise RuntimeError("step failed")
            return self.check_input(x)

        def backward(self, g):
            self.grads = []
            return g

    def run(engine):
        rng = np.random.default_rng(7)
        first, second = Dropout(0.5), Dropout(0.5)
        first.build((6,), "float32", rng)
        second.build((6,), "float32", rng)
        model = Sequential([Dense(6, activation="relu", input_shape=(6,)), first, FailsOnce(), second,
                            Dense(3, activation="softmax")], seed=0)
        model.compile("sgd", "categorical_crossentropy")
        FailsOnce.armed = True
        with pytest.raises(RuntimeError):
            model.fit(x, y, batch_size=8, epochs=1, verbose=0, engine=engine)
        FailsOnce.armed = False
        state = rng.bit_generator.state
        return state, model.fit(x, y, batch_size=8, epochs=1, verbose=0, engine=engine).history["loss"]

    data = np.random.default_rng(0)
    x = data.standard_normal((8, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[data.integers(0, 3, 8)]
    assert run("fast") == run("reference")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), h=st.integers(2, 7), w=st.integers(2, 7), c=st.integers(1, 3),
       pool=st.integers(2, 3), stride=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       data_format=st.sampled_from(["channels_last", "channels_first"]), seed=st.integers(0, 2**16))
def test_maxpool_background_halves_give_the_same_bits(n, h, w, c, pool, stride, padding,
                                                      data_format, seed):
    """With the background thread the masks and the second half of the scatter run there:
    same output and gradient bits as the reference layer, ties (a few levels) included."""
    assume(padding == "same" or (h >= pool and w >= pool))
    rng = np.random.default_rng(seed)
    shape = (c, h, w) if data_format == "channels_first" else (h, w, c)
    x = rng.integers(0, 3, (n,) + shape).astype(np.float32)
    layer = _built(MaxPooling2D(pool, strides=stride, padding=padding, data_format=data_format), shape)
    kernel = kernels.kernel_for(layer, use_background=True)
    y = kernel.forward(x, False)
    g = np.arange(1, y.size + 1, dtype=np.float32).reshape(y.shape)
    dx = kernel.backward(g.copy(), True, True)
    np.testing.assert_array_equal(y, layer.forward(x, training=True))
    np.testing.assert_array_equal(dx, layer.backward(g))


def test_kept_arrays_follow_the_batch_size():
    """A kernel writes its outputs into arrays kept from step to step, resized with the batch."""
    rng = np.random.default_rng(0)
    layer = _built(Conv2D(2, 3, padding="same"), (5, 5, 2), np.float64)
    kernel = kernels.kernel_for(layer, use_background=False)
    big, small = rng.standard_normal((4, 5, 5, 2)), rng.standard_normal((2, 5, 5, 2))
    first = kernel.forward(big, False).copy()
    kernel.forward(small, False)
    again = kernel.forward(big, False)
    np.testing.assert_array_equal(first, again)
    g = rng.standard_normal(first.shape)
    dx = kernel.backward(g, True, False)
    layer.forward(big, training=True)
    np.testing.assert_array_equal(dx, layer.backward(g))


def test_a_subclass_that_overrides_forward_gets_the_generic_kernel():
    class Doubling(Dense):
        def forward(self, x, training=False):
            return 2 * super().forward(x, training)

    assert type(kernels.kernel_for(_built(Doubling(3), (2,)), False)) is kernels.Kernel
    assert type(kernels.kernel_for(_built(Dense(3), (2,)), False)) is kernels.DenseKernel


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 3), s=st.integers(1, 2), padding=st.sampled_from(["same", "valid"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]), n=st.integers(1, 3))
def test_a_patch_matrix_made_once_equals_conv_patches_at_every_call(k, s, padding, fmt, n):
    """kernels._PatchMatrix writes each batch into the arrays it made once: the same P^T as
    conv_patches for every batch in turn (the padding's zeros stay), and a batch of another
    dtype is refused (a windowed convolution: a pointwise one's patches are its input)."""
    from gdsim.nn import ops

    shape = (n, 2, 5, 6) if fmt == "channels_first" else (n, 5, 6, 2)
    layer = Conv2D(3, (k, k), strides=(s, s), padding=padding, data_format=fmt)
    layer.build(shape[1:], rng=np.random.default_rng(0))
    patch_matrix = kernels._PatchMatrix(shape, np.float32, layer.geometry)
    rng = np.random.default_rng(k * 10 + s)
    for _ in range(3):
        x = rng.normal(size=shape).astype(np.float32)
        assert np.array_equal(patch_matrix(x), ops.conv_patches(x, layer.geometry)[1])
    with pytest.raises(ValueError, match="_PatchMatrix"):
        patch_matrix(x.astype(np.float64))
