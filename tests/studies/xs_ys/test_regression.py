"""The seed regression: init inference, overflow prediction, and the seed's printed numbers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdsim.studies.xs_ys import regression, reproduce, stability
from gdsim.studies.xs_ys.data import seed_regression


@settings(max_examples=25)
@given(st.floats(-regression.GLOROT_LIMIT_1X1, regression.GLOROT_LIMIT_1X1).filter(
    lambda w: abs(w - 0.5) > 1e-3))
def test_first_loss_pins_the_initial_kernel_up_to_its_mirror_image(w0):
    first_loss = regression.run(n=20, kernel=w0, epochs=1, dtype="float64", predict_at=None).loss[0]
    kernels = regression.kernels_from_first_loss(first_loss)
    assert min(abs(k - w0) for k in kernels) < 1e-9
    assert all(abs(k) <= regression.GLOROT_LIMIT_1X1 for k in kernels)


def test_seed_init_is_unique_inside_glorots_range():
    kernels = regression.kernels_from_first_loss(reproduce.SEED_SGD_LOSSES[0])
    assert len(kernels) == 1 and kernels[0] == pytest.approx(-1.27277, abs=1e-5)


def test_infer_kernels_finds_every_root_of_a_known_function():
    roots = regression.infer_kernels(lambda k: (np.asarray(k) - 0.3) ** 2, 0.04)
    assert roots == pytest.approx([0.1, 0.5], abs=1e-9)
    assert regression.infer_kernels(lambda k: np.asarray(k) ** 2, -1.0) == []


@pytest.mark.parametrize("n", [18, 20])
def test_predicted_first_inf_epoch_matches_the_float32_run(n):
    kernel = reproduce.seed_init_kernel()
    result = regression.run(n=n, kernel=kernel, epochs=200, predict_at=None)
    ratio = stability.regression_stability(seed_regression(n, "float64")[0], 0.01)["loss_ratio"]
    predicted = regression.predicted_first_inf_epoch(result.loss[0], ratio, batch_size=n)
    assert predicted == result.first_inf_epoch


def test_predicted_first_inf_epoch_is_none_for_a_shrinking_loss():
    assert regression.predicted_first_inf_epoch(1.0, 0.9, 20) is None


def test_seed_sgd_epochs_match_the_printed_numbers_to_4_significant_digits():
    rows = reproduce.sgd_divergence_rows()
    epochs = [row for row in rows if row.quantity.startswith("loss epoch")]
    assert len(epochs) == 20 and all(row.match for row in epochs)
    by_name = {row.quantity: row for row in rows}
    assert by_name["first inf epoch"].gdsim_value == 64
    assert by_name["first inf epoch (predicted)"].gdsim_value == 64
    assert by_name["first NaN epoch"].match


def test_small_learning_rate_run_matches_the_printed_numbers():
    rows = reproduce.small_lr_rows()
    assert len(kernels := rows[0].note.split(":")[1].split(",")) >= 2  # both mirror inits shown
    assert all(row.match for row in rows[1:]), [(r.quantity, r.seed_value, r.gdsim_value)
                                                for r in rows[1:] if not r.match]


def test_json_numbers_are_strict_json_with_null_for_non_finite_values():
    assert [regression.json_number(v) for v in (math.inf, -math.inf, math.nan, 1.5)] == \
        [None, None, None, 1.5]


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n must be >= 1"),
    ({"optimizer": "sgdd"}, "did you mean 'sgd'"),
    ({"kernel": math.nan}, "init_kernel must be finite"),
    ({"epochs": -1}, "epochs must be >= 0"),
])
def test_bad_regression_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        regression.run(**kwargs)


def test_zero_epochs_trains_nothing_and_reports_the_init():
    result = regression.run(n=5, kernel=0.3, bias=0.1, epochs=0)
    assert result.loss == [] and result.first_inf_epoch is None
    assert (result.kernel, result.bias) == pytest.approx((0.3, 0.1))
    assert result.prediction == pytest.approx(25 * 0.3 + 0.1, rel=1e-6)
