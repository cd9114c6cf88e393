"""The seed CNN: Keras's parameter counts, and both data formats compute the same function."""

import numpy as np
import pytest

from gdsim.studies.cnn.model import build_model, seed_cnn


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_parameter_counts_match_keras(data_format):
    model = seed_cnn(32, 32, 3, 2, data_format=data_format)
    assert model.count_params() == 134_226
    assert sum(w.size for w in model.trainable_weights) == 133_906
    assert model.output_shape == (2,)


def test_channels_first_equals_channels_last_on_transposed_input():
    """Same weights (Keras keeps kernels (kh, kw, in, out) and flattens channels-last in both)."""
    last = seed_cnn(16, 16, 3, 2, data_format="channels_last", dropout=False, dtype="float64")
    first = seed_cnn(16, 16, 3, 2, data_format="channels_first", dropout=False, dtype="float64")
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).random((4, 16, 16, 3))
    np.testing.assert_allclose(first.predict(x.transpose(0, 3, 1, 2)), last.predict(x), rtol=1e-12)
    np.testing.assert_allclose(first(x.transpose(0, 3, 1, 2), training=True),
                               last(x, training=True), rtol=1e-10)


def test_outputs_are_probabilities_and_seeded():
    x = np.random.default_rng(1).random((5, 16, 16, 3)).astype(np.float32)
    a, b, c = (seed_cnn(16, 16, 3, 3, seed=s).predict(x) for s in (0, 0, 1))
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs,match", [({"classes": 1}, "classes must be >= 2"),
                                          ({"data_format": "NHWC"}, "unknown data_format"),
                                          ({"height": 2}, "height must be >= 4")])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        seed_cnn(**kwargs)


def test_build_model_compiles_the_seed_recipe():
    model = build_model(8, lr=1e-3, bn_momentum=0.9, dropout=False)
    assert model.optimizer.learning_rate == 1e-3 and model.loss.name == "categorical_crossentropy"
    assert {layer.momentum for layer in model.layers if hasattr(layer, "moving_mean")} == {0.9}
    assert all(layer.rate == 0 for layer in model.layers if type(layer).__name__ == "Dropout")
    with pytest.raises(ValueError, match="bn_momentum"):
        build_model(8, bn_momentum=1.5)
