"""Shared by the Keras cross-checks."""

import contextlib


@contextlib.contextmanager
def keras_dtype(keras, dtype: str):
    """Keras with ``dtype`` variables *and* layer compute dtype, restored afterwards.

    Under the JAX backend float64 also needs ``jax_enable_x64``: without it JAX silently
    computes float64 requests in float32 (a float64 Keras model then reproduces float32
    numbers bit for bit -- measured, and not in the Keras notes).
    """
    x64 = dtype == "float64" and keras.backend.backend() == "jax"
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield keras
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")
        if x64:
            jax.config.update("jax_enable_x64", False)
