"""What fit does for speed on the seed CNN (background thread, in-place layers, reused buffers,
one flat optimizer call) gives the bits of the plainest layer-by-layer loop."""

import numpy as np
import pytest

from gdsim.studies.cnn.model import seed_cnn


def _plain_fit(model, x, y, batch_size, epochs):
    """fit without any of its speed-ups: layers called one by one (no flags, fresh arrays),
    one per-array optimizer step per batch, in order (no shuffling). Returns the OptState."""
    layers = model.trainable_layers
    state = model.optimizer.init([w for layer in layers for w in layer.trainable_weights])
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            out = x[start:start + batch_size].copy()
            for layer in model.layers:
                out = layer.forward(out, training=True)
            _, grad = model.loss.value_and_grad(y[start:start + batch_size], out)
            for layer in reversed(model.layers):
                grad = layer.backward(grad)
            params = [w for layer in layers for w in layer.trainable_weights]
            grads = [g for layer in layers for g in layer.grads]
            params, state = model.optimizer.step(params, grads, state)
            for layer in layers:
                count = len(layer.trainable_weights)
                layer.set_trainable_weights(params[:count])
                params = params[count:]
    return state


@pytest.mark.parametrize("background", [True, False])
def test_fit_equals_a_plain_layer_by_layer_loop(background):
    """Everything fit does for speed -- background thread, staged batches, in-place layers,
    buffers reused from step to step, one flat Adam call -- against the plainest loop. 8 steps
    over 2 epochs with dropout and a last partial batch: the same bits."""
    from gdsim import optim
    from gdsim.nn import blas

    rng = np.random.default_rng(11)
    x = rng.random((44, 16, 16, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 44)]
    fast, plain = seed_cnn(16, 16, 3, 2), seed_cnn(16, 16, 3, 2)
    fast.background = background
    for model in (fast, plain):
        model.compile(optimizer=optim.Adam(1e-2), loss="categorical_crossentropy")
    fast.fit(x, y, batch_size=12, epochs=2, verbose=0, shuffle=False)
    plain.build()
    with blas.blas_threads(1):  # as fit runs OpenBLAS (two threads round GEMMs differently)
        state = _plain_fit(plain, x, y, batch_size=12, epochs=2)
    assert all(np.array_equal(a, b) for a, b in zip(fast.get_weights(), plain.get_weights()))
    for slot in ("m", "v"):
        assert all(np.array_equal(a, b) for a, b in zip(fast.optimizer_state.slots[slot], state.slots[slot]))


def test_layers_called_on_their_own_return_fresh_arrays():
    """Buffers are reused only inside a model's training step: outside it, a result the caller
    keeps is never overwritten by the next call."""
    from gdsim.nn.layers import BatchNormalization, Conv2D

    rng = np.random.default_rng(2)
    for layer, shape in ((BatchNormalization(), (4, 4, 3)), (Conv2D(3, 1), (4, 4, 3))):
        layer.build(shape, np.float32, rng)
        x1, x2 = (rng.random((2,) + shape, dtype=np.float32) for _ in range(2))
        y1 = layer.forward(x1, training=True)
        kept = y1.copy()
        dx1 = layer.backward(np.ones_like(y1))
        kept_dx = dx1.copy()
        layer.forward(x2, training=True)
        layer.backward(np.full_like(y1, 2.0))
        np.testing.assert_array_equal(y1, kept)
        np.testing.assert_array_equal(dx1, kept_dx)
