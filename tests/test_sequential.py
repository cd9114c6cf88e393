"""Sequential.fit reports what Keras reports, deterministically, and fails clearly."""

import io
import math
import warnings

import numpy as np
import pytest

from gdsim import optim
from gdsim.studies.xs_ys import regression
from gdsim.studies.xs_ys.data import seed_regression
from gdsim.nn.callbacks import Callback, EarlyStopping, TerminateOnNaN
from gdsim.nn.layers import Dense
from gdsim.nn.model import DivergenceWarning, Sequential

SEED_KERNEL = regression.kernels_from_first_loss(450.9794)[0]


def linear_data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)[:, None]
    return x, y


def dense_model(optimizer="sgd", seed=0, dtype="float32"):
    model = Sequential([Dense(1, input_shape=(3,))], seed=seed, dtype=dtype)
    model.compile(optimizer=optimizer, loss="mse")
    model.build()
    return model


def test_epoch_loss_is_batch_size_weighted_mean_of_pre_update_batch_losses():
    x, y = linear_data(70)
    model, replica = dense_model(optim.SGD(0.05)), dense_model(optim.SGD(0.05))
    history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    batch_losses, sizes = [], []
    for start in range(0, 70, 32):
        xb, yb = x[start:start + 32], y[start:start + 32]
        batch_losses.append(replica.evaluate(xb, yb, batch_size=len(xb)))  # before the update
        replica.fit(xb, yb, batch_size=len(xb), epochs=1, shuffle=False, verbose=0)
        sizes.append(len(xb))
    assert sizes == [32, 32, 6]
    weighted = np.dot(batch_losses, sizes) / 70
    assert history.history["loss"][0] == pytest.approx(weighted, rel=1e-6)
    assert abs(np.mean(batch_losses) - weighted) > 0.01 * weighted  # the unweighted mean differs
    for ours, theirs in zip(model.get_weights(), replica.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_one_batch_per_epoch_reports_loss_before_that_epochs_update():
    xs, ys = seed_regression(20)
    model = regression.build_model(SEED_KERNEL)
    initial = model.evaluate(xs, ys)
    history = model.fit(xs, ys, epochs=2, verbose=0)
    assert history.history["loss"][0] == pytest.approx(initial, rel=1e-7)
    assert history.history["loss"][0] == pytest.approx(450.9794, abs=5e-5)


def test_same_seed_same_bits_and_different_seed_different_order():
    x, y = linear_data(50)
    runs = []
    for seed in (7, 7, 8):
        model = dense_model(optim.Adam(0.01), seed=1)
        history = model.fit(x, y, batch_size=8, epochs=3, seed=seed, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_model_seed_controls_initial_weights():
    a, b, c = dense_model(seed=3), dense_model(seed=3), dense_model(seed=4)
    assert np.array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    limit = math.sqrt(6 / (3 + 1))  # glorot_uniform for 3 inputs, 1 output
    assert np.all(np.abs(a.get_weights()[0]) <= limit)


def test_divergence_is_recorded_and_warned_about_once():
    xs, ys = seed_regression(20)
    model = regression.build_model(SEED_KERNEL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(xs, ys, epochs=140, verbose=0)
    messages = [str(w.message) for w in caught]
    assert len(caught) == 1 and issubclass(caught[0].category, DivergenceWarning), messages
    assert "inf from epoch 64" in messages[0] and "NaN from epoch 134" in messages[0]
    assert (history.first_inf_epoch, history.first_nan_epoch) == (64, 134)
    assert len(history.history["loss"]) == 140  # training went on, as in Keras


def test_terminate_on_nan_stops_at_the_first_non_finite_epoch(capsys):
    xs, ys = seed_regression(20)
    model = regression.build_model(SEED_KERNEL)
    with pytest.warns(DivergenceWarning):
        history = model.fit(xs, ys, epochs=500, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 64
    assert math.isinf(history.history["loss"][-1])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_progress_output_looks_like_keras():
    xs, ys = seed_regression(20)
    model = regression.build_model(SEED_KERNEL)
    stream = io.StringIO()
    model.fit(xs, ys, epochs=2, verbose=1, stream=stream)
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "1/1 [==============================]" in text
    assert "loss: 450.9794" in text
    assert "loss: 1603.0857" in text


def test_verbose_2_prints_one_line_per_epoch():
    x, y = linear_data(70)
    stream = io.StringIO()
    dense_model().fit(x, y, epochs=3, verbose=2, stream=stream)
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("3/3")]
    assert len(lines) == 3 and all(" - loss: " in line for line in lines)


def test_validation_split_holds_out_the_last_fraction():
    x, y = linear_data(40)
    model = dense_model(optim.SGD(0.01))
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0, batch_size=8)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[30:], y[30:]), rel=1e-6)
    assert history.history["val_loss"][-1] != pytest.approx(model.evaluate(x[:10], y[:10]), rel=1e-3)


def test_callbacks_see_keras_hook_order_and_early_stopping_stops():
    events = []

    class Recorder(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch))

    x, y = linear_data(20)
    model = dense_model(optim.SGD(1e-9))  # no progress: early stopping triggers
    stopper = EarlyStopping(monitor="loss", patience=1, min_delta=1.0)
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[Recorder(), stopper])
    assert events[:4] == [("epoch_begin", 0), ("batch_end", 0), ("batch_end", 1), ("epoch_end", 0)]
    assert len(history.history["loss"]) == 2 and stopper.stopped_epoch == 1  # as Keras


def test_predict_accepts_one_feature_without_its_axis():
    model = regression.build_model(0.5, 0.25)
    assert model.predict(np.array([25.0])).shape == (1, 1)
    assert model.predict(np.array([25.0]))[0, 0] == pytest.approx(12.75)


def test_summary_counts_parameters():
    lines = []
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    model.build()
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "dense (Dense)" in text and "dense_1 (Dense)" in text
    assert "Total params: 26" in text and model.count_params() == 26


@pytest.mark.parametrize("call,match", [
    (lambda m, x, y: m.fit(x, y[:5], verbose=0), "same number of samples"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "batch_size must be >= 1"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), "epochs must be >= 0"),
    (lambda m, x, y: m.fit(x, y, shuffle="sometimes", verbose=0), "unknown shuffle"),
    (lambda m, x, y: m.fit(x[:, :2], y, verbose=0), r"x must have shape \(batch, 3\)"),
    (lambda m, x, y: m.fit(np.full_like(x, np.nan), y, verbose=0), "x must be finite"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), "validation_split"),
])
def test_bad_fit_arguments_raise_clear_errors(call, match):
    x, y = linear_data(20)
    with pytest.raises((ValueError, TypeError), match=match):
        call(dense_model(), x, y)


def test_compile_rejects_unknown_names_with_a_suggestion():
    model = Sequential([Dense(1, input_shape=(1,))])
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        model.compile(optimizer="adma", loss="mse")
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="sgd")


def test_fit_before_compile_says_so():
    model = Sequential([Dense(1, input_shape=(1,))])
    with pytest.raises(ValueError, match="compile"):
        model.fit(np.ones(3), np.ones(3), verbose=0)


@pytest.mark.parametrize("shuffle", [True, "keras", "batch"])
def test_two_one_epoch_fits_equal_one_two_epoch_fit(shuffle):
    x, y = linear_data(40)
    once, twice = dense_model(optim.SGD(0.05)), dense_model(optim.SGD(0.05))
    losses = once.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0).history["loss"]
    split = [twice.fit(x, y, batch_size=8, epochs=1, shuffle=shuffle, verbose=0).history["loss"][0]
             for _ in range(2)]
    assert split == losses
    assert all(np.array_equal(a, b) for a, b in zip(once.get_weights(), twice.get_weights()))


def test_a_layer_reused_in_another_model_still_backpropagates():
    shared = Dense(3, input_shape=(3,))
    first = Sequential([shared])
    first.compile(optimizer="sgd", loss="mse")
    first.fit(np.ones((4, 3)), np.ones((4, 3)), verbose=0)
    second = Sequential([Dense(3, input_shape=(3,)), shared, Dense(1)])
    second.compile(optimizer="sgd", loss="mse")
    history = second.fit(np.ones((4, 3)), np.ones(4), verbose=0, epochs=2)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_a_layer_used_twice_in_one_model_is_refused_with_its_name_and_place():
    """A layer keeps one forward's cache for its backward, so the same object twice in one
    model (weight sharing in Keras) would train on half its gradient: refused when added, the
    model left as it was."""
    shared = Dense(3, input_shape=(3,), name="shared")
    model = Sequential([shared, Dense(3)])
    with pytest.raises(ValueError, match=r"layer 'shared' is already in this model \(at index 0\)"):
        model.add(shared)
    assert len(model.layers) == 2
    with pytest.raises(ValueError, match="already in this model"):
        Sequential([Dense(3, input_shape=(3,)), shared, Dense(3), shared])


def test_rejected_data_do_not_fix_the_input_shape():
    model = Sequential([Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(np.ones((20, 2)), np.ones(19), verbose=0)
    assert model.fit(np.ones((20, 3)), np.ones(20), verbose=0).history["loss"]


def test_targets_of_the_wrong_shape_are_named():
    model = dense_model()
    with pytest.raises(ValueError, match=r"y must have shape \(batch, 1\).*got \(4, 5\)"):
        model.fit(np.ones((4, 3)), np.ones((4, 5)), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[1\] must have shape"):
        model.fit(np.ones((4, 3)), np.ones(4), validation_data=(np.ones((2, 3)), np.ones((2, 2))),
                  verbose=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"checkpoint": "/no/such/folder/run.npz"}, "folder"),
    ({"checkpoint": 5}, "checkpoint must be a path"),
    ({"resume": "yes", "checkpoint": "run.npz"}, "resume must be True or False"),
    ({"callbacks": 5}, "callbacks must be a list"),
])
def test_bad_checkpoint_and_callback_arguments_fail_before_training(kwargs, match):
    model = dense_model()
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(*linear_data(8), verbose=0, **kwargs)
    assert model.optimizer_state is None  # nothing was trained


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_freezing_a_layer_after_a_fit_asks_for_compile(engine):
    """As in Keras, a change of ``trainable`` takes effect with ``compile()``; without it, a
    clear error before any step (it was a shape mismatch deep inside the optimizer)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 3)), rng.random((16, 1))
    model = Sequential([Dense(4, input_shape=(3,)), Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer=optim.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=1, verbose=0, engine=engine)
    model.layers[0].trainable = False
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"trainable was changed since compile\(\)\): call compile\(\) again"):
        model.fit(x, y, epochs=1, verbose=0, engine=engine)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.compile(optimizer=optim.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=1, verbose=0, engine=engine)
    after = model.get_weights()
    assert np.array_equal(after[0], before[0]) and not np.array_equal(after[2], before[2])
