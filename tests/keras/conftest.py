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
    """Keras computing in float64 (JAX x64 on), restored to float32 afterwards."""
    from tests.keras.helpers import keras_dtype

    with keras_dtype(keras, "float64"):
        yield keras
