"""Inference in pairs of batches (gdsim.nn.fast.paired_inference): every second batch computed
whole by the lane worker gives the same bits as one process and as the reference tier,
whatever the batch count, the last batch's size, or how a pass ends."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdsim.nn.fast import lanes, paired_inference
from gdsim.studies.cnn.model import build_model

pytestmark = pytest.mark.skipif(lanes.cores() < 2, reason="the worker needs two cores")


@pytest.fixture
def every_batch_in_lanes(monkeypatch):
    monkeypatch.setattr(lanes, "MIN_VALUES", 0)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 16, 16, 3), dtype=np.float32),
            np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)])


@pytest.fixture(scope="module")
def trained():
    """A small seed CNN after one epoch (moving statistics away from their start)."""
    x, y = _images(64, seed=1)
    model = build_model(16)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=0)
    return model


def _serial(model):
    """The same model's inference on one core (no worker): what the pairs must equal."""
    serial = build_model(16)
    serial.background = False
    serial.set_weights(model.get_weights())
    return serial


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 75), batch_size=st.integers(2, 20), batch_statistics=st.booleans())
def test_pairs_equal_one_process_and_the_reference(every_batch_in_lanes, trained, n, batch_size,
                                                   batch_statistics):
    x, y = _images(n, seed=n)
    paired = trained.predict(x, batch_size=batch_size, batch_statistics=batch_statistics)
    serial = _serial(trained)
    assert np.array_equal(paired, serial.predict(x, batch_size=batch_size,
                                                 batch_statistics=batch_statistics))
    assert np.array_equal(paired, trained.predict(x, batch_size=batch_size, engine="reference",
                                                  batch_statistics=batch_statistics))
    assert (trained.evaluate(x, y, batch_size=batch_size, return_dict=True,
                             batch_statistics=batch_statistics)
            == serial.evaluate(x, y, batch_size=batch_size, return_dict=True,
                               batch_statistics=batch_statistics))


def test_the_worker_takes_every_second_batch(every_batch_in_lanes, trained, monkeypatch):
    here = []
    engine = trained._engine("fast")
    original = lanes.run_forward
    monkeypatch.setattr(lanes, "run_forward", lambda kernels, x, *a: here.append(len(x)) or original(kernels, x, *a))
    x, _ = _images(70)
    starts = [start for start, _ in engine.infer_batches(x, 16)]
    assert starts == [0, 16, 32, 48, 64]
    assert here == [16, 16, 6]  # batches 0, 2 and 4 (the last, of 6) here; 1 and 3 there
    assert isinstance(engine.paired, paired_inference.PairedInference)


def test_new_weights_reach_the_worker(every_batch_in_lanes):
    x, y = _images(96)
    model = build_model(16)
    before = model.predict(x, batch_size=16)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=0)
    after = model.predict(x, batch_size=16)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, _serial(model).predict(x, batch_size=16))


def test_two_models_take_turns_with_the_worker(every_batch_in_lanes, trained):
    other = build_model(16, seed=5)
    other.set_weights([w * 0.5 for w in trained.get_weights()])
    x, _ = _images(80)
    first = [trained.predict(x, batch_size=16), other.predict(x, batch_size=16)]
    again = [trained.predict(x, batch_size=16), other.predict(x, batch_size=16)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert np.array_equal(first[1], _serial(other).predict(x, batch_size=16))
    assert not np.array_equal(first[0], first[1])


def test_a_pass_stopped_early_leaves_the_worker_in_step(every_batch_in_lanes, trained):
    x, _ = _images(96)
    engine = trained._engine("fast")
    passes = engine.infer_batches(x, 16)
    next(passes)  # the worker has batches in flight
    passes.close()
    assert lanes.turn.acquire(blocking=False)  # the turn was given up
    lanes.turn.release()
    assert np.array_equal(trained.predict(x, batch_size=16), _serial(trained).predict(x, batch_size=16))


def test_a_killed_worker_fails_the_pass_and_the_next_starts_a_new_one(every_batch_in_lanes, trained):
    x, _ = _images(96)
    engine = trained._engine("fast")
    passes = engine.infer_batches(x, 16)
    next(passes)
    lanes._worker.process.kill()
    lanes._worker.process.wait()
    with pytest.raises(lanes.LaneError, match="ended"):
        for _ in passes:
            pass
    assert np.array_equal(trained.predict(x, batch_size=16), _serial(trained).predict(x, batch_size=16))


def test_an_error_here_stops_the_worker_and_is_raised(every_batch_in_lanes, trained, monkeypatch):
    x, _ = _images(96)
    calls = []

    def failing(kernels, batch, *args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("broken layer")
        return original(kernels, batch, *args)

    original = lanes.run_forward
    monkeypatch.setattr(lanes, "run_forward", failing)
    with pytest.raises(RuntimeError, match="broken layer"):
        trained.predict(x, batch_size=16)
    assert lanes._worker is None  # stopped: its state was unknown
    monkeypatch.setattr(lanes, "run_forward", original)
    assert np.array_equal(trained.predict(x, batch_size=16), _serial(trained).predict(x, batch_size=16))



_CUSTOM_RELU = """
import numpy as np

def relu(x, out=None):
    return np.maximum(x, 0, out=out)

def relu_grad(y, g, out=None):
    return np.multiply(g, y > 0, out=out)
"""


@pytest.mark.parametrize("fails_in", ["this process", "the worker"])
def test_layers_the_worker_cannot_have_run_here(every_batch_in_lanes, monkeypatch, tmp_path, fails_in):
    """A custom activation that does not pickle here (a local function), or does not unpickle
    in the worker (a module only this process can import), falls back to one core, with the
    same bits, instead of failing fit and predict."""
    import importlib

    from gdsim.nn import activations, layers
    from gdsim.nn.model import Sequential

    if fails_in == "this process":
        relu = lambda x, out=None: np.maximum(x, 0, out=out)  # noqa: E731
        relu_grad = lambda y, g, out=None: np.multiply(g, y > 0, out=out)  # noqa: E731
    else:
        (tmp_path / "only_here_relu.py").write_text(_CUSTOM_RELU)
        monkeypatch.syspath_prepend(str(tmp_path))  # this process's path, not the worker's
        module = importlib.import_module("only_here_relu")
        relu, relu_grad = module.relu, module.relu_grad

    def model():
        act = activations.ActivationFn("my_relu", relu, relu_grad)
        built = Sequential([layers.Conv2D(4, (3, 3), activation=act, input_shape=(8, 8, 3)),
                            layers.BatchNormalization(), layers.Flatten(),
                            layers.Dense(2, activation="softmax")], seed=0)
        built.compile(optimizer="adam", loss="categorical_crossentropy")
        return built

    x = np.random.default_rng(0).random((64, 8, 8, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(64) % 2]
    results = []
    for background in (True, False):
        m = model()
        m.background = background
        small = m.predict(x[:16], batch_size=16)  # one batch: the two lanes' inference
        history = m.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=1).history
        results.append((small, history, m.get_weights(), m.predict(x, batch_size=16)))
        if background:
            assert m._engine("fast").lanes is None  # fell back at the first pass
    (a_small, a_hist, a_w, a_pred), (b_small, b_hist, b_w, b_pred) = results
    assert np.array_equal(a_small, b_small) and a_hist == b_hist and np.array_equal(a_pred, b_pred)
    assert all(np.array_equal(u, v) for u, v in zip(a_w, b_w))


def test_a_model_the_worker_cannot_have_predicts_here(every_batch_in_lanes):
    """The paired pass alone falls back: the lane prefix pickles, a later layer does not."""
    from gdsim.nn import layers
    from gdsim.nn.model import Sequential

    class Tail(layers.Activation):  # a local class: does not pickle
        pass

    def model(background):
        built = Sequential([layers.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 3)),
                            layers.BatchNormalization(), layers.Flatten(),
                            layers.Dense(2), Tail("softmax")], seed=0)
        built.background = background
        return built

    x = np.random.default_rng(0).random((80, 8, 8, 3), dtype=np.float32)
    paired, serial = model(True), model(False)
    assert np.array_equal(paired.predict(x, batch_size=16), serial.predict(x, batch_size=16))
    engine = paired._engine("fast")
    assert engine.lanes is not None and engine.paired is False


def test_an_array_setting_reaches_the_worker_however_it_changes(every_batch_in_lanes):
    """A BatchNormalization epsilon given as a 0-d array (a setting, not a weight), then
    replaced by another array, then changed in place: every second batch is the worker's, and
    each pass equals the reference."""
    model = build_model(16)
    bn = next(layer for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    rng = np.random.default_rng(6)
    bn.moving_mean = rng.normal(0, 0.3, bn.moving_mean.shape).astype(np.float32)
    bn.moving_variance = rng.uniform(0.5, 2, bn.moving_variance.shape).astype(np.float32)
    x, _ = _images(64, seed=6)
    bn.epsilon = np.array(1e-3)
    before = model.predict(x, batch_size=16)
    for change in ("replaced", "in place"):
        if change == "replaced":
            bn.epsilon = np.array(10.0)
        else:
            bn.epsilon[...] = 0.5
        got = model.predict(x, batch_size=16)
        assert np.array_equal(got, model.predict(x, batch_size=16, engine="reference")), change
        assert not np.array_equal(got, before), change  # the setting does change the outputs
        before = got
