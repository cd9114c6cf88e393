"""Two lanes (gdsim.nn.fast.lanes): the second half of each image batch in a worker process
gives the same bits as one process, as the reference tier, and as one core."""

import os
import socket
import subprocess
import sys
import textwrap
import threading
from multiprocessing.connection import Connection

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdsim.nn import activations, callbacks, layers
from gdsim.nn.fast import lanes, layer_settings
from gdsim.nn.model import Sequential
from gdsim.studies.cnn.model import build_model

pytestmark = pytest.mark.skipif(lanes.cores() < 2, reason="the lanes need two cores")


@pytest.fixture
def every_batch_in_lanes(monkeypatch):
    monkeypatch.setattr(lanes, "MIN_VALUES", 0)


def _data(n, shape, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape), dtype=np.float32),
            np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)])


def _run(model, x, y, engine, **fit):
    history = model.fit(x, y, verbose=0, engine=engine, **fit)
    return (history.history, model.get_weights(), model.predict(x, verbose=0, engine=engine),
            model.evaluate(x, y, verbose=0, batch_statistics=True, engine=engine))


def _assert_same(a, b):
    assert a[0] == b[0]
    assert len(a[1]) == len(b[1]) and all(np.array_equal(u, v) for u, v in zip(a[1], b[1]))
    assert np.array_equal(a[2], b[2])
    assert a[3] == b[3]


@pytest.mark.parametrize("marks", [True, False], ids=["swaps-by-marks", "swaps-by-messages"])
def test_seed_cnn_in_lanes_equals_reference_and_one_process(every_batch_in_lanes, monkeypatch,
                                                            marks):
    monkeypatch.setattr(lanes, "ORDERED_STORES", marks)  # messages: machines without TSO
    x, y = _data(90, (32, 32, 3))  # 72 training images: two full batches and one of 8
    fit = dict(batch_size=32, epochs=2, validation_split=0.2, seed=3)
    in_lanes = build_model(32)
    result = _run(in_lanes, x, y, "fast", **fit)
    engine = in_lanes._engine("fast")
    assert engine.lanes is not None and engine.prefix == 17  # every layer up to Flatten
    assert lanes._worker is not None and lanes._worker.process.poll() is None
    _assert_same(result, _run(build_model(32), x, y, "reference", **fit))
    serial = build_model(32)
    serial.background = False  # no thread, no worker: one core
    _assert_same(result, _run(serial, x, y, "fast", **fit))


def _masks_drawn_ahead(monkeypatch):
    """A list that records, for every lane step, whether its masks were drawn ahead."""
    used, draw = [], lanes.Lanes._draw_masks

    def recording(self, n, half):
        saved = draw(self, n, half)
        used.append(self._buffer is not None)
        return saved

    monkeypatch.setattr(lanes.Lanes, "_draw_masks", recording)
    return used


class _DrawsFromTheDropoutGenerator(callbacks.Callback):
    """After every second batch, one draw from the generator the masks come from."""

    def on_train_batch_end(self, batch, logs=None):
        if batch % 2:
            next(layer for layer in self.model.layers
                 if isinstance(layer, layers.Dropout)).generator.random()


def _one_generator(model):
    """The model with all its Dropout layers drawing from one generator, the last of them
    after the prefix (so the masks drawn ahead must wait for its draw)."""
    dropouts = [layer for layer in model.layers if isinstance(layer, layers.Dropout)]
    for layer in dropouts[1:]:
        layer._rng = dropouts[0].generator
    return model


@pytest.mark.parametrize("meddling, shared", [(False, False), (True, False), (False, True)],
                         ids=["alone", "another-draw-between-steps", "one-generator"])
def test_masks_drawn_ahead_by_the_worker_give_the_reference_bits(every_batch_in_lanes,
                                                                  monkeypatch, meddling, shared):
    """The worker draws each next step's masks while the layers after the prefix run here;
    a step takes them only if nothing drew from the generator since (else it draws anew)."""
    used = _masks_drawn_ahead(monkeypatch)
    x, y = _data(104, (32, 32, 3))  # batches of 16: six full ones and one of 8
    fit = dict(batch_size=16, epochs=2, seed=5,
               callbacks=[_DrawsFromTheDropoutGenerator()] if meddling else [])
    build = (lambda: _one_generator(build_model(32))) if shared else (lambda: build_model(32))
    in_lanes = build()
    result = _run(in_lanes, x, y, "fast", **fit)
    # per epoch: the first step has nothing drawn ahead, nor the batch of 8 (drawn for 16),
    # nor a step after an odd batch's extra draw
    every_other = [False, True, False, True, False, True, False]
    assert used == (every_other if meddling else [False] + [True] * 5 + [False]) * 2
    _assert_same(result, _run(build(), x, y, "reference", **fit))


def _image_model(data_format, strides, padding, noise_batch_shared, seed):
    first = data_format == "channels_first"
    axis = 1 if first else -1
    shape = (3, 9, 8) if first else (9, 8, 3)
    noise = (1, None, None, None) if noise_batch_shared else None
    model = Sequential([
        layers.Conv2D(4, (3, 3), strides=strides, padding=padding, data_format=data_format,
                      input_shape=shape),
        layers.Activation("relu"),
        layers.BatchNormalization(axis=axis),
        layers.Conv2D(5, (1, 1), data_format=data_format, activation="relu"),
        layers.BatchNormalization(axis=axis),
        layers.MaxPooling2D((2, 2), padding="same", data_format=data_format),
        layers.Dropout(0.3, noise_shape=noise),
        layers.Flatten(data_format=data_format),
        layers.Dense(3, activation="softmax"),
    ], seed=seed)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, shape


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data_format=st.sampled_from(["channels_last", "channels_first"]),
       strides=st.sampled_from([(1, 1), (2, 1), (2, 2)]),
       padding=st.sampled_from(["same", "valid"]),
       noise_batch_shared=st.booleans(),
       n=st.integers(2, 13), batch=st.integers(2, 7), seed=st.integers(0, 50))
def test_image_layers_in_lanes_equal_reference(every_batch_in_lanes, data_format, strides,
                                               padding, noise_batch_shared, n, batch, seed):
    results = []
    for engine in ("fast", "reference"):
        model, shape = _image_model(data_format, strides, padding, noise_batch_shared, seed)
        x, y = _data(n, shape, classes=3, seed=seed)
        results.append(_run(model, x, y, engine, batch_size=batch, epochs=2, seed=seed))
    _assert_same(*results)


def test_a_killed_worker_fails_the_step_clearly_and_the_next_fit_starts_anew(every_batch_in_lanes,
                                                                            monkeypatch):
    x, y = _data(40, (32, 32, 3))
    model = build_model(32)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    first = lanes._worker.process
    first.kill()
    first.wait()
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)  # a dead worker is replaced before a step
    assert lanes._worker.process is not first and lanes._worker.process.poll() is None

    run_forward = lanes.run_forward

    def worker_dies_first(kernels, *args):  # once both lanes have started the step
        lanes._worker.process.kill()
        lanes._worker.process.wait()
        return run_forward(kernels, *args)

    monkeypatch.setattr(lanes, "run_forward", worker_dies_first)
    prefix_dropouts = [layer for layer in model.layers[:model._engine("fast").prefix]
                       if isinstance(layer, layers.Dropout)]
    generator = prefix_dropouts[0].generator
    prefix_dropouts[1]._rng = generator  # one generator, two draws a step
    before = generator.bit_generator.state
    with pytest.raises(lanes.LaneError, match="lane worker process ended"):
        model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    assert generator.bit_generator.state == before  # the failed step's draws undone
    monkeypatch.setattr(lanes, "run_forward", run_forward)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    assert lanes._worker.process.poll() is None


def test_a_swap_waits_for_the_mark_and_fails_on_the_other_lanes_report():
    mine, theirs = socket.socketpair()
    conn, other = Connection(os.dup(mine.fileno())), Connection(os.dup(theirs.fileno()))
    marks = np.zeros((3, 2), dtype=np.int64)
    late = threading.Timer(0.02, marks.__setitem__, ((1, 1), 7))  # after the spin and yields
    late.start()
    lanes.wait_for_mark(marks, (1, 1), 7, conn)
    assert marks[1, 1] == 7
    other.send(("error", "boom in the worker"))  # a report, and the mark never comes
    with pytest.raises(lanes.LaneError, match="boom in the worker"):
        lanes.wait_for_mark(marks, (2, 1), 7, conn)
    other.close()
    theirs.close()
    with pytest.raises(lanes.LaneError, match="ended"):
        lanes.wait_for_mark(marks, (2, 1), 7, conn)
    conn.close()
    mine.close()


_ONE_RUN = textwrap.dedent("""
    import hashlib, os, sys
    os.sched_setaffinity(0, [int(cpu) for cpu in sys.argv[1:]])  # the worker inherits it
    import numpy as np
    from gdsim import numerics
    numerics.pin()
    from gdsim.studies.cnn.model import build_model
    from gdsim.nn.fast import lanes
    rng = np.random.default_rng(0)
    x = rng.random((72, 32, 32, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 72)]
    model = build_model(32)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=1)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights()))
    digest.update(repr(history.history).encode())
    used = model._engine("fast").lanes is not None and lanes._worker is not None
    print(lanes.cores(), used, digest.hexdigest())
""")


def test_one_core_and_two_give_the_same_bits():
    """The same run pinned to one core (no worker: everything here) and free on two."""
    def run(cpus):
        out = subprocess.run([sys.executable, "-c", _ONE_RUN, *map(str, sorted(cpus))],
                             capture_output=True, text=True, check=True, timeout=600)
        return out.stdout.split()
    one = run({0})
    both = run(os.sched_getaffinity(0))
    assert one[:2] == ["1", "False"] and both[1] == "True"
    assert one[2] == both[2]


def test_two_models_in_two_threads_take_turns_and_keep_their_bits(every_batch_in_lanes):
    import threading
    x, y = _data(64, (32, 32, 3))
    alone = []
    for seed in (0, 1):
        model = build_model(32, seed=seed)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=seed)
        alone.append(model.get_weights())
    together = [build_model(32, seed=seed) for seed in (0, 1)]
    threads = [threading.Thread(target=m.fit, args=(x, y),
                                kwargs=dict(batch_size=16, epochs=1, verbose=0, seed=seed))
               for seed, m in enumerate(together)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for model, weights in zip(together, alone):
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))


def test_a_failure_after_the_prefix_gives_up_the_turn(every_batch_in_lanes, monkeypatch):
    x, y = _data(40, (32, 32, 3))
    model = build_model(32)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    loss = type(model.loss)

    def broken(self, y_true, y_pred):
        raise KeyboardInterrupt

    monkeypatch.setattr(loss, "value_and_grad", broken)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    monkeypatch.undo()
    free = []  # asked from another thread: the lock is reentrant for this one

    def try_turn():
        free.append(lanes.turn.acquire(blocking=False))
        if free[-1]:
            lanes.turn.release()

    import threading
    probe = threading.Thread(target=try_turn)
    probe.start()
    probe.join()
    assert free == [True]
    worker = lanes._worker.process
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)  # the same worker serves the next step
    assert lanes._worker.process is worker


class _ChangeSettings(callbacks.Callback):
    """Before the second step of every epoch: new dropout rates, BatchNormalization epsilons and
    momenta (settings the worker's copy of the layers uses)."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch != 1:
            return
        for layer in self.model.layers:
            if isinstance(layer, layers.Dropout):
                layer.rate = round(layer.rate * 0.5 + 0.1, 3)
            elif isinstance(layer, layers.BatchNormalization):
                layer.epsilon *= 10.0
                layer.momentum = 0.9


def test_settings_changed_between_steps_reach_the_worker(every_batch_in_lanes):
    """A setting changed mid-epoch by a callback, or between two fits, gives the reference's
    bits: the worker's copy of the layers follows (before, it kept the settings it was handed
    first, and one core and two differed)."""
    x, y = _data(96, (32, 32, 3))
    results = []
    for engine in ("fast", "reference"):
        model = build_model(32)
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=1, engine=engine,
                            callbacks=[_ChangeSettings()]).history
        model.layers[5].epsilon = 0.25  # between two calls; and a frozen BatchNormalization,
        model.layers[2].trainable = False  # which normalises with its moving statistics
        model.compile(optimizer=model.optimizer, loss=model.loss)
        results.append((history, *_run(model, x, y, engine, batch_size=32, epochs=1, seed=2)[1:]))
        if engine == "fast":
            assert model._engine("fast").lanes is not None
    fast, reference = results
    _assert_same(fast, reference)


def test_the_settings_leave_out_weights_and_state_of_a_pass(monkeypatch):
    model = build_model(32)
    watch = layer_settings.Watch(model.layers)
    x, y = _data(40, (32, 32, 3))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, engine="reference")  # caches, grads, draws
    model.set_weights([w + 1 for w in model.get_weights()])
    full_looks, full = [], layer_settings.settings
    monkeypatch.setattr(layer_settings, "settings", lambda layers: full_looks.append(1) or full(layers))
    assert watch.unchanged(model.layers) and not full_looks  # the quick look
    model.layers[7].rate = float(str(model.layers[7].rate))  # the same value, assigned again
    assert watch.unchanged(model.layers) and len(full_looks) == 1
    assert watch.unchanged(model.layers) and len(full_looks) == 1  # quick again
    model.layers[7].rate = 0.3
    assert not watch.unchanged(model.layers)
    assert full(model.layers) != watch.settings


class _Mine(layers.Activation):
    """A layer class from outside gdsim: it may hold a setting that changes in place."""


def test_a_layer_of_another_class_is_always_looked_at_in_full():
    mine = _Mine("relu")
    mine.options = {"slope": 0.0}
    watch = layer_settings.Watch([mine])
    assert watch.unchanged([mine])
    mine.options["slope"] = 0.1  # not an assignment of the layer's attribute
    assert not watch.unchanged([mine])


def test_layers_the_worker_cannot_have_leave_it_running(every_batch_in_lanes):
    x, y = _data(64, (32, 32, 3))
    build_model(32).fit(x, y, batch_size=32, epochs=1, verbose=0)
    worker = lanes._worker.process
    custom = build_model(32)
    custom.layers[1].activation = activations.ActivationFn(  # a lambda does not pickle
        "my_relu", lambda x, out=None: np.maximum(x, 0, out=out),
        lambda y, g, out=None: np.multiply(g, y > 0, out=out))
    custom.fit(x, y, batch_size=32, epochs=1, verbose=0)  # cannot be pickled: one core
    assert custom._engine("fast").lanes is None
    assert lanes._worker.process is worker and worker.poll() is None


def test_a_model_of_mixed_dtypes_runs_on_one_core_with_the_reference_bits(every_batch_in_lanes):
    """A float32 model whose BatchNormalization, Flatten and Dense were built in float64: the
    lanes' shared arrays hold one dtype (they rounded the prefix's float64 output to float32),
    so such a model has no lane prefix, and fit, evaluate and predict give the reference's bits."""
    def make():
        rng = np.random.default_rng(0)
        bn, flat, dense = layers.BatchNormalization(), layers.Flatten(), layers.Dense(2, activation="softmax")
        bn.build((16, 16, 8), "float64", rng)
        flat.build((16, 16, 8), "float64", rng)
        dense.build((16 * 16 * 8,), "float64", rng)
        model = Sequential([layers.Conv2D(8, 3, padding="same", input_shape=(16, 16, 3)), bn, flat,
                            dense], seed=0)
        model.compile("sgd", "categorical_crossentropy")
        return model

    x, y = _data(32, (16, 16, 3))
    fast, reference = make(), make()
    assert lanes.lane_prefix(fast.layers) == 0
    assert (fast.fit(x, y, batch_size=16, epochs=2, verbose=0).history
            == reference.fit(x, y, batch_size=16, epochs=2, verbose=0, engine="reference").history)
    assert all(np.array_equal(a, b) for a, b in zip(fast.get_weights(), reference.get_weights()))
    assert np.array_equal(fast.predict(x, batch_size=16), reference.predict(x, batch_size=16, engine="reference"))
    assert (fast.evaluate(x, y, batch_statistics=True, verbose=0)
            == reference.evaluate(x, y, batch_statistics=True, verbose=0, engine="reference"))
