"""gdsim.studies.cnn.scores: a checkpoint scored in inference mode and with BatchNorm batch
statistics, without touching the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdsim.nn.layers import BatchNormalization
from gdsim.studies.cnn.data import make_data
from gdsim.studies.cnn.scores import batch_statistics_loss, per_sample_loss
from gdsim.studies.cnn.settings import QUICK
from tests.studies.cnn.runs import quick_run


def test_batch_statistics_loss_leaves_the_model_untouched():
    run = quick_run(0, return_model=True)
    model = run["model"]
    (x, y), (xv, yv) = make_data(QUICK["n"], QUICK["size"], 0)
    before = model.get_weights()
    prediction = model.predict(xv)
    value = batch_statistics_loss(model, xv, yv)
    assert math.isfinite(value) and value > 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(prediction, model.predict(xv))
    assert any(isinstance(layer, BatchNormalization) for layer in model.layers)
    # inference-mode per-sample losses average to what evaluate reports
    assert per_sample_loss(model, xv, yv).mean() == pytest.approx(
        model.evaluate(xv, yv, return_dict=True)["loss"], rel=1e-5)


def test_batch_statistics_loss_is_the_layer_by_layer_definition_bit_for_bit():
    """The reference the figures' numbers were computed with: every BatchNormalization called
    in training mode, every other layer in inference mode, the moving statistics put back;
    each batch's float32 sum of per-sample losses added in float64."""
    from gdsim.nn.losses import CategoricalCrossentropy

    model = quick_run(1, return_model=True)["model"]
    _, (xv, yv) = make_data(QUICK["n"], QUICK["size"], 1)
    bns = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
    saved = [(layer.moving_mean.copy(), layer.moving_variance.copy()) for layer in bns]
    for batch_size in (32, 7):
        total = 0.0
        with np.errstate(all="ignore"):
            for start in range(0, len(xv), batch_size):
                h = xv[start:start + batch_size]
                for layer in model.layers:
                    h = layer.forward(h, training=isinstance(layer, BatchNormalization))
                total += float(np.sum(CategoricalCrossentropy().per_sample(
                    yv[start:start + batch_size], h)))
        for layer, (mean, variance) in zip(bns, saved):
            layer.moving_mean, layer.moving_variance = mean, variance
        assert batch_statistics_loss(model, xv, yv, batch_size=batch_size) == total / len(xv)
