"""The runs whose bits the portable numerics profile promises on every x86-64 machine with AVX2.

Each function computes one run and returns the sha256 of its result bytes. ``test_portable``
runs them in a fresh process under the portable profile (``python tests/fingerprints.py
NAME``: :func:`gdsim.numerics.pin` happens before NumPy loads) and compares with the hashes
committed there. Run by hand to see what a machine gives::

    python tests/fingerprints.py seed_cnn              # portable profile
    GDSIM_NUMERICS=native python tests/fingerprints.py seed_cnn    # this machine's kernels
"""

from __future__ import annotations

import hashlib
import subprocess
import sys


def _sha256(*arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(array.tobytes())
    return digest.hexdigest()


def seed_cnn() -> str:
    """The seed CNN (dropout on) fitted for 2 epochs on 320 16x16 genuine/fake images: weights."""
    from gdsim import optim
    from gdsim.nn import blas
    from gdsim.studies.cnn.data import real_fake_images
    from gdsim.studies.cnn.model import seed_cnn as build

    x, y = real_fake_images(n=320, size=16, channels=3, seed=0)
    model = build(16, 16, 3, 2, dropout=True, seed=0)
    model.compile(optimizer=optim.Adam(1e-3), loss="categorical_crossentropy")
    with blas.blas_threads(1):
        model.fit(x, y, batch_size=32, epochs=2, shuffle=True, seed=0, verbose=0)
    return _sha256(*model.get_weights())


def sweep() -> str:
    """``simulate.run``: Adam at 16 learning rates on Rosenbrock with Gaussian gradient noise,
    300 float64 steps (its bias correction is float64 ``power``): parameters and losses."""
    import numpy as np

    from gdsim import noise, optim, simulate, surfaces

    lrs = np.geomspace(1e-3, 1e-1, 16)
    traj = simulate.run(surfaces.get("rosenbrock"), optim.Adam(learning_rate=lrs),
                        x0=np.tile([-1.5, 2.0], (16, 1)), steps=300, noise=noise.Gaussian(0.1),
                        seed=0, record=10)
    return _sha256(traj.params, traj.loss, traj.grad_norm)


def reproduce() -> str:
    """``python -m gdsim reproduce --json`` (the xs/ys question's numbers): its output text."""
    out = subprocess.run([sys.executable, "-m", "gdsim", "reproduce", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return hashlib.sha256(out.encode()).hexdigest()


RUNS = {"seed_cnn": seed_cnn, "sweep": sweep, "reproduce": reproduce}

if __name__ == "__main__":
    from gdsim import numerics

    native = numerics.requested_native()
    print(numerics.pin(native=native))
    print(numerics.label())
    print(RUNS[sys.argv[1]]())
