"""SIGKILL at random points, during epochs and during checkpoint saves; every resume must end
bit-identical to an uninterrupted run and leave nothing but the checkpoint in its folder.

Each test runs a child Python process that trains (``Sequential.fit(checkpoint=...,
resume=True)``: dropout on, so the random streams matter) or simulates (``simulate.run``
with Gaussian noise) and kills it with SIGKILL, over and over, each time resuming from what
the last one left. The checkpoints are made big (16-21 MB), so a save takes tens of
milliseconds and is a target: half the kills wait for a temporary ``.tmp-*`` file to appear
(a save in progress) and strike a random few milliseconds later; the others strike after a
random delay anywhere in the run. When the kills are done, the run is let finish; its final
weights, history, optimizer state and random-stream states (fit) or trajectory and
checkpoint (simulate) must equal, bit for bit, those of a run never interrupted, and the
checkpoint folder must hold the checkpoint alone: no orphaned temporary, no probe file.

The kill schedule is random; ``GDSIM_KILL_SEED`` replays one (the seed is in every message).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from gdsim import _io

#: kills per test (fit + simulate: at least 20 per run of this file)
FIT_KILLS = 12
SIMULATE_KILLS = 10
SEED = int(os.environ.get("GDSIM_KILL_SEED", random.SystemRandom().randrange(2**32)))
ATTEMPT_SECONDS = 120  # a child that runs longer than this has hung

COMMON = textwrap.dedent("""
    import json, os, sys
    import numpy as np

    def dump(path, arrays, extra):
        # the result, written whole (the parent reads only the last, unkilled, attempt's)
        np.savez(path + ".part.npz", **arrays)
        os.replace(path + ".part.npz", path + ".npz")
        with open(path + ".part.json", "w") as handle:
            json.dump(extra, handle, sort_keys=True)
        os.replace(path + ".part.json", path + ".json")
""")

FIT_CHILD = COMMON + textwrap.dedent("""
    from gdsim import optim
    from gdsim.nn.layers import Dense, Dropout
    from gdsim.nn.model import Sequential

    checkpoint, out = sys.argv[1], sys.argv[2]
    # 1.3 M weights: with Adam's two slots a 16 MB checkpoint, tens of ms to save
    model = Sequential([Dense(1024, activation="relu", input_shape=(256,)), Dropout(0.5),
                        Dense(1024, activation="relu"), Dropout(0.3), Dense(1)], seed=3)
    model.compile(optimizer=optim.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 256)), rng.normal(size=256)
    print("ready", flush=True)
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0, seed=7,
                        checkpoint=checkpoint if checkpoint != "-" else None,
                        resume=checkpoint != "-")
    streams = {f"layer{i}.{k}": v.bit_generator.state for i, layer in enumerate(model.layers)
               for k, v in vars(layer).items() if isinstance(v, np.random.Generator)}
    streams.update({repr(key): stream.bit_generator.state
                    for key, stream in model._shuffle_streams.items()})
    arrays = {f"weights/{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update(model.optimizer_state.to_arrays(prefix="opt/"))
    dump(out, arrays, {"history": history.history, "epoch": history.epoch, "rng": streams})
""")

SIMULATE_CHILD = COMMON + textwrap.dedent("""
    from gdsim import noise, optim, simulate, surfaces

    checkpoint, out = sys.argv[1], sys.argv[2]
    runs = 2000  # a 21 MB checkpoint (the trajectory so far, every 5 steps)
    print("ready", flush=True)
    kwargs = {}
    if checkpoint != "-":
        kwargs = dict(checkpoint=checkpoint, checkpoint_every=150,
                      resume=checkpoint if os.path.exists(checkpoint) else None)
    trajectory = simulate.run(surfaces.get("rosenbrock"),
                              optim.Adam(np.geomspace(1e-4, 1e-2, runs)),
                              np.tile([-1.5, 2.0], (runs, 1)), 1500, noise=noise.Gaussian(0.5),
                              seed=11, record=5, **kwargs)
    dump(out, {"params": trajectory.params, "loss": trajectory.loss,
               "grad_norm": trajectory.grad_norm, "diverged_at": trajectory.diverged_at}, {})
""")


class Killer:
    """Runs a child until it completes, killing it ``kills`` times on the way."""

    def __init__(self, script: str, folder: str, rng: random.Random) -> None:
        self.script, self.folder, self.rng = script, folder, rng
        self.log: list[str] = []  # what each attempt did, for the failure message
        self.kills = self.during_save = self.attempts = self.orphans_seen = 0

    def start(self, checkpoint: str, out: str) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", self.script, checkpoint, out],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = child.stdout.readline()  # the imports are done: the delays count from here
        assert line.strip() == "ready", child.communicate()[1]
        return child

    def temporaries(self) -> list[str]:
        return [name for name in os.listdir(self.folder) if name.startswith(".tmp-")]

    def attempt(self, checkpoint: str, out: str, kill: bool, run_seconds: float) -> int:
        self.attempts += 1
        child = self.start(checkpoint, out)
        how, saving = "none", False
        if kill and self.kills % 2 == 0:
            # during a save: wait for the (skip+1)-th temporary, then strike mid-write
            skip, seen = self.rng.randint(0, 1), set()
            deadline = time.monotonic() + ATTEMPT_SECONDS
            while child.poll() is None and time.monotonic() < deadline:
                names = [n for n in self.temporaries() if not n.endswith(".probe")]
                seen.update(names)
                if names and len(seen) > skip:
                    time.sleep(self.rng.uniform(0.0, 0.015))
                    how = "save"
                    break
                time.sleep(0.0005)
        elif kill:
            time.sleep(self.rng.uniform(0.0, run_seconds))
            how = "random"
        if how != "none":
            saving = bool([n for n in self.temporaries() if not n.endswith(".probe")])
            child.send_signal(signal.SIGKILL)
        try:
            _, stderr = child.communicate(timeout=ATTEMPT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            raise AssertionError(f"an attempt hung (kill seed {SEED}): {self.log}") from None
        status = child.returncode
        if status == -signal.SIGKILL:
            self.kills += 1
            self.during_save += saving
            left = self.temporaries()
            self.orphans_seen += bool(left)
            self.log.append(f"killed ({how}{', saving' if saving else ''}; left {left})")
        else:
            assert status == 0, f"a resumed run failed (kill seed {SEED}, {self.log}): {stderr}"
            self.log.append(f"completed ({how} kill came too late)" if how != "none" else "completed")
        return status

    def run(self, checkpoint: str, out: str, kills: int, run_seconds: float) -> None:
        """Kill ``kills`` times (a run that completes before its kill is started afresh: its
        checkpoint is deleted, so every kill interrupts real work), then let it finish."""
        while self.kills < kills:
            if self.attempt(checkpoint, out, True, run_seconds) == 0:
                os.unlink(checkpoint)
        while self.attempt(checkpoint, out, False, run_seconds) != 0:
            pass


def _load(path):
    with np.load(path + ".npz") as data:
        arrays = {key: data[key] for key in data.files}
    with open(path + ".json") as handle:
        return arrays, json.load(handle)


def _assert_same_arrays(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b), what
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, (what, key)
        assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), (what, key)


def _kill_and_resume(tmp_path, script, kills, name):
    rng = random.Random(f"{SEED}-{name}")
    folder, results = tmp_path / "run", tmp_path / "results"
    folder.mkdir()
    results.mkdir()
    killer = Killer(script, str(folder), rng)
    # the uninterrupted run (no checkpoint at all) and one checkpointed without a kill
    started = time.monotonic()
    assert killer.start("-", str(results / "plain")).wait(ATTEMPT_SECONDS) == 0
    run_seconds = time.monotonic() - started
    reference_folder = tmp_path / "reference"
    reference_folder.mkdir()
    assert killer.start(str(reference_folder / "run.npz"), str(results / "reference")).wait(
        ATTEMPT_SECONDS) == 0
    checkpoint = str(folder / "run.npz")
    killer.run(checkpoint, str(results / "resumed"), kills, run_seconds)

    plain, resumed = _load(str(results / "plain")), _load(str(results / "resumed"))
    _assert_same_arrays(plain[0], resumed[0], f"{name}: final state (kill seed {SEED})")
    assert plain[1] == resumed[1], f"{name}: history / random streams (kill seed {SEED})"
    _assert_same_arrays(_io.load_npz(reference_folder / "run.npz"), _io.load_npz(checkpoint),
                        f"{name}: final checkpoint (kill seed {SEED})")
    assert sorted(os.listdir(folder)) == ["run.npz"], (
        f"{name}: files left beside the checkpoint (kill seed {SEED}, {killer.log})")
    return killer


def _report(name, killer):
    from tests import fuzz_counter

    fuzz_counter.setdefault("kills", []).append(
        f"{name}: {killer.kills} kills ({killer.during_save} during a save, "
        f"{killer.orphans_seen} left a temporary), {killer.attempts} attempts, bit-identical, "
        "0 files left")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
@pytest.mark.parametrize("name, child, kills", [("fit", FIT_CHILD, FIT_KILLS),
                                                ("simulate.run", SIMULATE_CHILD, SIMULATE_KILLS)])
def test_killed_at_random_points_resumes_bit_identically_and_leaves_nothing(tmp_path, name, child, kills):
    killer = _kill_and_resume(tmp_path, child, kills, name)
    assert killer.kills == kills
    assert killer.during_save >= 1, f"no kill hit a save (kill seed {SEED}): {killer.log}"
    _report(name, killer)
