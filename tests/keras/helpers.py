"""Shared by the Keras cross-checks."""

import contextlib
import types


@contextlib.contextmanager
def keras_dtype(keras, dtype: str):
    """Keras with ``dtype`` variables *and* layer compute dtype, restored afterwards.

    Under the JAX backend float64 also needs ``jax_enable_x64``: without it JAX silently
    computes float64 requests in float32 (a float64 Keras model then reproduces float32
    numbers bit for bit -- measured, and not in the Keras notes).

    Keras 3's BatchNormalization computes in ``backend.result_type(x.dtype, "float32")``, and
    Keras's ``result_type`` maps every 64-bit dtype to 32 bits ("aligned with JAX's default"),
    so a float64 BatchNormalization layer silently computes in float32 (measured: 1.5e-7
    relative error in float64 inference). For float64 the BatchNormalization module alone sees
    a ``result_type`` that keeps 64 bits; nothing else in Keras is touched.
    """
    float64 = dtype == "float64"
    x64 = float64 and keras.backend.backend() == "jax"
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    from keras.src.layers.normalization import batch_normalization as bn_module

    real_backend = bn_module.backend
    if float64:
        bn_module.backend = _Float64ResultType(real_backend)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield keras
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")
        bn_module.backend = real_backend
        if x64:
            jax.config.update("jax_enable_x64", False)


class _Float64ResultType(types.SimpleNamespace):
    """The Keras backend module, except that float64 operands promote to float64."""

    def __init__(self, backend):
        super().__init__()
        self._backend = backend

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def result_type(self, *dtypes):
        if any(str(d) == "float64" for d in dtypes):
            return "float64"
        return self._backend.result_type(*dtypes)
