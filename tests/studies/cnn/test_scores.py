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
