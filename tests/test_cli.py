"""The gdsim command: JSON shapes, Keras-like output, one-line errors with exit status 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gdsim
from gdsim import cli


def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_analyze_regression_json_explains_the_seed(capsys):
    status, out, _ = run_cli(capsys, "analyze", "regression", "--n", "20", "--lr", "0.01", "--json")
    report = json.loads(out)
    assert status == 0
    assert set(report) >= {"lambda_max", "lambda_min", "critical_lr", "loss_ratio", "converges",
                           "max_converging_n"}
    # (1 - 0.01 * 288.539)^2 = 3.55470; the seed printed 13164500484096 / 3703408164864 = 3.55470
    assert report["loss_ratio"] == pytest.approx(3.55470, abs=1e-5)
    assert report["critical_lr"] == pytest.approx(2 / report["lambda_max"])
    assert report["converges"] is False and report["max_converging_n"] == 16


def test_analyze_regression_human_output(capsys):
    status, out, _ = run_cli(capsys, "analyze", "regression", "--n", "10")
    assert status == 0 and "converges: yes" in out and "critical learning rate" in out


def test_regression_json_is_strict_with_null_for_inf_and_nan(capsys):
    status, out, _ = run_cli(capsys, "regression", "--epochs", "140", "--json")
    result = json.loads(out, parse_constant=lambda name: pytest.fail(f"non-JSON {name}"))
    assert status == 0
    assert set(result) == {"loss", "kernel", "bias", "predict", "first_inf_epoch", "first_nan_epoch"}
    assert len(result["loss"]) == 140
    assert result["loss"][0] == pytest.approx(450.9794, abs=1e-4)
    assert result["loss"][62] > 1e36 and result["loss"][63] is None and result["loss"][133] is None
    assert (result["first_inf_epoch"], result["first_nan_epoch"]) == (64, 134)
    assert result["kernel"] is None  # NaN after the divergence
    loss = np.array(result["loss"], dtype=float)  # NumPy reads null as NaN
    assert np.isfinite(loss[:63]).all() and np.isnan(loss[63:]).all()


def test_regression_adam_prints_keras_like_progress(capsys):
    status, out, _ = run_cli(capsys, "regression", "--optimizer", "adam", "--epochs", "3",
                             "--init-kernel", "0.457395")
    assert status == 0
    assert "Epoch 3/3" in out and "1/1 [==============================]" in out
    assert "predict([25.0]) = [[" in out


def test_regression_float64_and_minibatches(capsys):
    status, out, _ = run_cli(capsys, "regression", "--lr", "0.0001", "--batch-size", "4",
                             "--epochs", "5", "--dtype", "float64", "--no-shuffle", "--json")
    losses = json.loads(out)["loss"]
    assert status == 0 and losses[-1] < losses[0]


@pytest.mark.parametrize("argv,message", [
    (["regression", "--lr", "-0.1"], "--lr must be > 0"),
    (["regression", "--momentum", "1.5"], "--momentum must be in [0.0, 1.0]"),
    (["regression", "--optimizer", "adam", "--beta2", "2"], "--beta2 must be in"),
    (["regression", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["regression", "--n", "0"], "--n must be >= 1"),
    (["regression", "--optimizer", "adamw"], "unknown --optimizer 'adamw'"),
    (["regression", "--optimizer", "sgd", "--beta1", "0.5"], "--beta1 does not apply"),
    (["regression", "--dtype", "float16"], "--dtype must be 'float32' or 'float64'"),
    (["regression", "--epochs", "-3"], "--epochs must be >= 0"),
    (["analyze", "regression", "--lr", "0"], "--lr must be > 0"),
])
def test_bad_values_print_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, unrecognized", [(["regression", "--ep", "3"], "--ep 3"),
                                                 (["--native", "numerics"], "--native")])
def test_an_abbreviated_flag_is_refused(argv, unrecognized):
    """Only whole flag names: ``--native`` would otherwise run native kernels' code under the
    portable profile (the profile is chosen from the whole flag before NumPy loads)."""
    process = subprocess.run([sys.executable, "-m", "gdsim", *argv], capture_output=True, text=True)
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr == f"gdsim: error: unrecognized arguments: {unrecognized}\n"


def test_unknown_flag_exits_2_with_one_line():
    process = subprocess.run([sys.executable, "-m", "gdsim.cli", "regression", "--lr"],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "expected one argument" in process.stderr


@pytest.mark.slow
def test_reproduce_json_rows(capsys):
    status, out, _ = run_cli(capsys, "reproduce", "--json")
    rows = json.loads(out)
    assert status == 0
    assert all(set(row) >= {"scenario", "quantity", "seed_value", "gdsim_value", "match"}
               for row in rows)
    sgd = [r for r in rows if r["scenario"] == "sgd lr=0.01, xs=1..20"]
    assert sum(r["quantity"].startswith("loss epoch") and r["match"] for r in sgd) == 20
    assert {r["quantity"]: r["gdsim_value"] for r in sgd}["first inf epoch"] == 64
    adam = next(r for r in rows if r["scenario"].startswith("adam"))
    assert adam["match"] and adam["gdsim_value"] == pytest.approx(12.487587, abs=5e-4)
    ten = next(r for r in rows if r["scenario"] == "sgd lr=0.01, xs=1..10")
    assert ten["match"]


def test_figures_quick_creates_a_missing_out_folder_and_a_file_is_one_line(capsys, tmp_path):
    out_dir = tmp_path / "new" / "folder"
    status, out, _ = run_cli(capsys, "figures", "--quick", "--only", "momentum", "--out", str(out_dir))
    assert status == 0 and (out_dir / "05_momentum.png").stat().st_size > 0
    (tmp_path / "x.png").write_bytes(b"")
    status, _, err = run_cli(capsys, "figures", "--only", "momentum", "--out", str(tmp_path / "x.png"))
    assert status == 2 and "--out" in err and "is a file" in err and err.count("\n") == 1


def test_figures_list_names_every_figure(capsys):
    status, out, _ = run_cli(capsys, "figures", "--list")
    assert status == 0 and "divergence" in out and "noise_escape" in out


def test_reproduce_cnn_json_has_the_history_spikes_and_time(capsys, tmp_path):
    status, out, err = run_cli(capsys, "reproduce", "cnn", "--epochs", "2", "--n", "64",
                               "--out", str(tmp_path), "--json")
    result = json.loads(out)
    assert status == 0 and "Epoch 2/2" in err  # progress on stderr keeps stdout pure JSON
    assert set(result["history"]) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(result["history"]["val_loss"]) == 2
    assert {"count", "epochs"} <= set(result["spikes"]) and result["seconds"] > 0
    assert (tmp_path / "cnn_seed_run.csv").read_text().count("\n") >= 3
    written = json.loads((tmp_path / "cnn_seed_run.json").read_text())
    assert set(result) == set(written) and result["history"] == written["history"]


def test_reproduce_cnn_says_none_for_no_spikes_and_creates_its_folder(capsys, tmp_path):
    status, out, _ = run_cli(capsys, "reproduce", "cnn", "--epochs", "1", "--n", "32",
                             "--out", str(tmp_path / "a" / "b"))
    assert status == 0 and "val_loss spikes: none" in out and "[]" not in out
    assert (tmp_path / "a" / "b" / "cnn_seed_run.json").is_file()


def test_reproduce_options_belong_to_cnn(capsys):
    status, _, err = run_cli(capsys, "reproduce", "--epochs", "3")
    assert status == 2 and "apply to 'gdsim reproduce cnn' only" in err


def test_version_prints_the_package_version():
    process = subprocess.run([sys.executable, "-m", "gdsim.cli", "--version"],
                             capture_output=True, text=True)
    assert process.returncode == 0 and process.stdout.strip() == f"gdsim {gdsim.__version__}"


@pytest.mark.parametrize("argv,shows", [([], "reproduce"), (["analyze"], "regression")])
def test_bare_command_prints_usage_and_exits_2(capsys, argv, shows):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out.startswith("usage: gdsim") and shows in out and err == ""


def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status():
    # `gdsim analyze regression | head -0`: the reader is gone before the first line is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run([sys.executable, "-m", "gdsim.cli", "analyze", "regression"],
                                 stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert process.returncode == 141 and process.stderr == b""


def test_a_diverging_run_warns_in_one_clean_line():
    process = subprocess.run([sys.executable, "-m", "gdsim.cli", "regression", "--epochs", "140",
                              "--json"], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0
    assert process.stderr.startswith("DivergenceWarning: training diverged: loss inf from epoch 64")
    assert process.stderr.count("\n") == 1 and ".py:" not in process.stderr
