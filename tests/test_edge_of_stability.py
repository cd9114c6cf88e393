"""The edge of stability, asserted on the data of ``gdsim reproduce eos --quick --json``.

The quick mode runs the three runs the issue sets bands for, at the issue's settings (4,000
full-batch steps, sharpness every 20): the bands below are the issue's, not fitted to the data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdsim import cli
from gdsim.studies import edge_of_stability as eos


@pytest.fixture(scope="module")
def runs():
    """``gdsim reproduce eos --quick --json`` once, parsed: {name: run}."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["reproduce", "eos", "--quick", "--json"])
    assert status == 0
    assert "gd: SGD lr=0.2" in err.getvalue()  # progress goes to stderr, JSON alone to stdout
    payload = json.loads(out.getvalue())
    return {run["name"]: run for run in payload["runs"]}


def test_json_has_one_object_per_run_with_the_issue_keys(runs):
    assert list(runs) == ["gd", "control", "adam"]
    for run in runs.values():
        assert {"name", "optimizer", "lr", "threshold", "steps", "sharpness", "loss"} <= set(run)
        assert run["steps"] == list(range(0, 4001, 20))
        assert len(run["sharpness"]) == len(run["steps"]) and len(run["loss"]) == 4001
    assert runs["gd"]["threshold"] == pytest.approx(2 / 0.2)
    assert runs["control"]["threshold"] == pytest.approx(2 / 0.049)
    assert runs["adam"]["threshold"] == pytest.approx(38 / 0.01)


def _ratio(run):
    values = np.array([np.nan if v is None else v for v in run["sharpness"]])
    return np.array(run["steps"]), values / run["threshold"]


def test_gd_sharpens_to_2_over_eta_and_hovers_there(runs):
    gd = runs["gd"]
    steps, ratio = _ratio(gd)
    assert steps[np.argmax(ratio >= 0.95)] < 600 and (ratio >= 0.95).any()
    late = steps >= 2000
    assert 0.98 <= ratio[late].mean() <= 1.05
    assert ratio[late].max() <= 1.10
    loss = np.array(gd["loss"])
    assert np.mean(np.diff(loss) > 0) >= 0.15  # non-monotone ...
    assert loss[-1] < loss[0] and loss[-500:].mean() < loss[:500].mean()  # ... and still falling


def test_the_control_stays_stable_and_monotone(runs):
    _, ratio = _ratio(runs["control"])
    assert ratio.max() < 0.8
    assert np.all(np.diff(runs["control"]["loss"]) <= 0)


def test_adam_preconditioned_sharpness_hovers_at_38_over_eta(runs):
    steps, ratio = _ratio(runs["adam"])
    assert np.isnan(ratio[0])  # no preconditioner before the first step
    late = steps >= 2000
    assert abs(ratio[late].mean() - 1) <= 0.10


def test_table_and_summaries_agree_with_the_json(runs):
    gd = runs["gd"]
    summary = gd["summary"]
    _, ratio = _ratio(gd)
    assert summary["max"] == pytest.approx(np.nanmax(ratio))
    assert summary["loss_falls"] and not summary["monotone"]
    assert runs["control"]["summary"]["monotone"]


def test_eos_flags_are_checked(capsys):
    assert cli.main(["reproduce", "eos", "--epochs", "3"]) == 2
    assert "apply to 'gdsim reproduce cnn' only" in capsys.readouterr().err
    assert cli.main(["reproduce", "--quick"]) == 2
    assert "--quick applies to 'gdsim reproduce eos' only" in capsys.readouterr().err


def test_half_mse_network_and_data_are_the_issue_setting():
    x, y = eos.chebyshev_data()
    assert x.shape == (20, 1) and x[0, 0] == -1 and x[-1, 0] == 1
    np.testing.assert_allclose(y[:, 0], np.cos(6 * np.arccos(x[:, 0])), atol=1e-12)  # T_6
    model = eos.build_mlp(eos.optim.SGD(0.2))
    assert [w.shape for w in model.trainable_weights] == [(1, 30), (30,), (30, 20), (20,), (20, 1), (1,)]
    assert model.loss.name == "half_mean_squared_error" and model.dtype == np.float64


def test_the_table_shows_each_run_as_multiples_of_its_threshold(runs):
    import dataclasses

    objects = []
    for run in runs.values():
        fields = {f.name: run[f.name] for f in dataclasses.fields(eos.EosRun)}
        fields["sharpness"] = [np.nan if v is None else v for v in fields["sharpness"]]
        objects.append(eos.EosRun(**fields))
    lines = eos.format_table(objects).splitlines()
    gd = next(line for line in lines if line.startswith("gd "))
    assert f"{runs['gd']['summary']['second_half_mean']:.3f}x" in gd and "10" in gd
    assert any(line.startswith("adam ") and "3800" in line for line in lines)
