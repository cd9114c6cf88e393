"""A quick (``QUICK``-sized) seed run, shared by the CNN study tests."""

from gdsim.studies.cnn.seed_run import train_seed_run
from gdsim.studies.cnn.settings import QUICK


def quick_run(seed: int = 0, **kw):
    return train_seed_run(n=QUICK["n"], epochs=QUICK["epochs"], size=QUICK["size"], seed=seed,
                          verbose=0, **kw)
