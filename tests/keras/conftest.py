"""Keras cross-check fixtures.

Keras is imported here (never by ``import gdsim``). The backend defaults to JAX, the one
whose ``shuffle=True`` order NumPy can reproduce; set ``KERAS_BACKEND`` to try another.
With ``GDSIM_REQUIRE_KERAS=1`` (as CI sets) a missing Keras fails the run instead of
skipping it, so a cross-check can never silently not run.
"""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")


def _import_keras():
    try:
        import keras
    except ImportError as exc:
        if os.environ.get("GDSIM_REQUIRE_KERAS") == "1":
            raise RuntimeError("GDSIM_REQUIRE_KERAS=1 but keras cannot be imported: "
                               f"{exc}; install with pip install -e '.[test]'") from exc
        pytest.skip(f"keras not installed ({exc}); set GDSIM_REQUIRE_KERAS=1 to make this an error")
    return keras


@pytest.fixture(scope="session")
def keras():
    """The keras module, configured for float32 like a fresh Keras session."""
    module = _import_keras()
    module.config.set_floatx("float32")
    module.config.set_dtype_policy("float32")
    return module


@pytest.fixture()
def keras_float64(keras):
    """Keras with float64 variables *and* layer compute dtype, restored afterwards."""
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield keras
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
