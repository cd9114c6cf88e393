"""Checkpoint and resume: bit-identical continuation, even after a kill; bad files refused."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gdsim import _io, optim
from gdsim.nn.layers import BatchNormalization, Dense, Dropout
from gdsim.nn.model import Sequential

EPOCHS = 6


def make_model(units=8):
    """Every kind of state: dropout's random stream, BatchNorm's moving statistics, Adam's slots."""
    model = Sequential([Dense(units, activation="relu", input_shape=(4,)), BatchNormalization(),
                        Dropout(0.3), Dense(1)], seed=5)
    model.compile(optimizer=optim.Adam(0.01), loss="mse")
    return model


def make_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    return x, x @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.1 * rng.normal(size=50)


def uninterrupted():
    model = make_model()
    history = model.fit(*make_data(), epochs=EPOCHS, batch_size=8, verbose=0)
    return model, history


def assert_identical(model_a, history_a, model_b, history_b):
    assert history_a.history == history_b.history
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        assert np.array_equal(a, b)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    path = tmp_path / "run.npz"
    first = make_model()
    first.fit(*make_data(), epochs=2, batch_size=8, verbose=0, checkpoint=path)
    resumed = make_model()
    history = resumed.fit(*make_data(), epochs=EPOCHS, batch_size=8, verbose=0,
                          checkpoint=path, resume=True)
    assert_identical(resumed, history, *uninterrupted())
    assert int(_io.load_npz(path)["epoch"]) == EPOCHS


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_checkpoint import make_model, make_data
    from gdsim.nn.callbacks import Callback

    class KillMidEpoch(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 3 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    make_model().fit(*make_data(), epochs={epochs}, batch_size=8, verbose=0,
                     checkpoint={path!r}, callbacks=[KillMidEpoch()])
""")


def test_a_run_killed_mid_epoch_resumes_bit_identically(tmp_path):
    path = tmp_path / "run.npz"
    script = KILLED_RUN.format(tests=os.path.dirname(__file__), epochs=EPOCHS, path=str(path))
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert int(_io.load_npz(path)["epoch"]) == 3  # epochs 1-3 done, the 4th was cut short
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    resumed = make_model()
    history = resumed.fit(*make_data(), epochs=EPOCHS, batch_size=8, verbose=0,
                          checkpoint=path, resume=True)
    assert_identical(resumed, history, *uninterrupted())


@pytest.mark.parametrize("background,engine", [(False, "fast"), (True, "fast"),
                                               (False, "reference")])
def test_a_step_interrupted_in_process_resumes_bit_identically(tmp_path, monkeypatch, background,
                                                               engine):
    """A KeyboardInterrupt in the middle of a training step (a notebook's stop button) leaves
    nothing behind: with the dropout mask already drawn ahead on the background thread, the
    draw is undone, so resuming from the checkpoint in the same process matches a clean run."""
    from gdsim.nn.fast.kernels import ActivationKernel
    from gdsim.nn.layers import Activation

    def make():
        model = Sequential([Dense(16, input_shape=(4,)), Activation("relu"), Dropout(0.5), Dense(1)],
                           seed=0, background=background)
        model.compile(optimizer=optim.SGD(0.05), loss="mse")
        return model

    rng = np.random.default_rng(0)
    x, y = rng.random((40, 4), dtype=np.float32), rng.random((40, 1), dtype=np.float32)
    reference = make()
    reference.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    model, path = make(), tmp_path / "run.npz"
    calls = []
    # the ReLU's forward (before Dropout's, after Dropout's prefetch) is interrupted once
    owner = ActivationKernel if engine == "fast" else Activation
    original = owner.forward

    def interrupted(self, inputs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 8:  # epoch 2, step 3
            raise KeyboardInterrupt
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(owner, "forward", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, checkpoint=path,
                  engine=engine)
    monkeypatch.setattr(owner, "forward", original)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, checkpoint=path, resume=True,
              engine=engine)
    assert len(calls) == 8
    assert all(np.array_equal(a, b) for a, b in zip(reference.get_weights(), model.get_weights()))


def test_truncated_checkpoint_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "run.npz"
    make_model().fit(*make_data(), epochs=1, batch_size=8, verbose=0, checkpoint=path)
    damaged = path.read_bytes()[:300]
    path.write_bytes(damaged)
    with pytest.raises(ValueError, match="run.npz"):
        make_model().fit(*make_data(), epochs=2, verbose=0, checkpoint=path, resume=True)
    assert path.read_bytes() == damaged


def test_checkpoint_of_another_model_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "run.npz"
    make_model().fit(*make_data(), epochs=1, batch_size=8, verbose=0, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="does not belong to this run.*weight_shapes"):
        make_model(units=9).fit(*make_data(), epochs=2, batch_size=8, verbose=0,
                                checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="batch_size"):
        make_model().fit(*make_data(), epochs=2, batch_size=16, verbose=0, checkpoint=path,
                         resume=True)
    assert path.read_bytes() == before


def test_checkpoints_are_never_pickled(tmp_path):
    path = tmp_path / "run.npz"
    make_model().fit(*make_data(), epochs=1, batch_size=8, verbose=0, checkpoint=path)
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")

    def half_write_then_fail(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _io.atomic_write(path, half_write_then_fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["figure.png"]


def test_resume_needs_a_path():
    with pytest.raises(ValueError, match="checkpoint=PATH"):
        make_model().fit(*make_data(), epochs=1, verbose=0, resume=True)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "out.json"
    _io.save_json(path, {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_resuming_a_fit_under_another_numerics_profile_warns_once_naming_both(tmp_path, monkeypatch):
    from gdsim import numerics

    path = tmp_path / "run.npz"
    make_model().fit(*make_data(), epochs=2, batch_size=8, verbose=0, checkpoint=path)
    assert str(_io.load_npz(path)["numerics"]) == numerics.label()
    monkeypatch.setattr(numerics, "_label", "native (machine-specific): elsewhere")
    with pytest.warns(numerics.NumericsWarning) as caught:
        make_model().fit(*make_data(), epochs=3, batch_size=8, verbose=0, checkpoint=path,
                         resume=True)
    assert len(caught) == 1 and "[native (machine-specific): elsewhere]" in str(caught[0].message)
