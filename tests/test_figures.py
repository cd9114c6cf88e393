"""Every lecture figure's claim, asserted on the data it plots (quick mode), plus the images.

Each figure script separates ``compute(quick)`` (the data) from ``plot(data)``; the tests run
compute once per figure, check the claim the figure's title makes, then check the image files.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gdsim import figures, plots
from gdsim.studies.xs_ys.reproduce import SEED_SGD_FIRST_INF_EPOCH, SEED_SGD_LOSSES

_CACHE: dict[str, tuple] = {}


def computed(name: str) -> tuple:
    """(module, quick data) for figure ``name``, computed once per test session."""
    if name not in _CACHE:
        module = figures.load(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diverging runs warn by design
            _CACHE[name] = (module, module.compute(quick=True))
    return _CACHE[name]


# ------------------------------------------------------------------------------ the API

def test_names_are_in_lecture_order_and_each_has_a_one_line_description():
    names = figures.names()
    assert names == ["divergence", "stability", "noise_escape", "surfaces", "momentum", "adam",
                     "minibatch", "escape_animation", "cnn_training_curves", "minibatch_noise_cnn",
                     "validation_sample_size", "batchnorm_dropout", "step_size_cnn",
                     "same_name_different_numbers", "edge_of_stability", "adam_edge_of_stability"]
    for name in names:
        text = figures.describe(name)
        assert text and "\n" not in text and len(text) < 200, (name, text)
        assert figures.script_path(name).name.startswith(f"{names.index(name) + 1:02d}_")


def test_unknown_figure_names_the_choices_and_the_closest_match(tmp_path):
    with pytest.raises(ValueError, match=r"did you mean 'momentum'.*expected one of"):
        figures.make("momentun", tmp_path)
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        figures.make_all(tmp_path, only=["adma"])
    with pytest.raises(ValueError, match="did you mean 'stability'"):
        figures.describe("stabilty")
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_the_scripts_ship_inside_the_package_and_missing_ones_give_a_clear_error(monkeypatch,
                                                                                  tmp_path):
    assert figures.scripts_dir() == Path(figures.__file__).resolve().parent / "gallery"
    monkeypatch.setattr(figures, "__file__", str(tmp_path / "site-packages" / "gdsim" / "figures.py"))
    with pytest.raises(FileNotFoundError, match="installation is incomplete"):
        figures.make("momentum", tmp_path)


def test_default_out_dir_is_the_committed_figures_in_a_checkout_and_quick_never_overwrites():
    repository = Path(figures.__file__).resolve().parent.parent / "figures"
    assert figures.default_out_dir() == repository
    assert figures.default_out_dir(quick=True) == repository / "quick"


def test_make_creates_a_missing_folder_and_refuses_a_file(tmp_path):
    assert figures.make("momentum", tmp_path / "a" / "b", quick=True)[0].is_file()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="out_dir .* is a file"):
        figures.make("momentum", tmp_path / "file", quick=True)


def test_make_all_with_only_runs_just_that_figure_and_main_is_deterministic(tmp_path):
    first = figures.make_all(tmp_path / "a", only="momentum", quick=True)
    second = figures.make("momentum", tmp_path / "b", quick=True)
    assert [p.name for p in first] == ["05_momentum.png", "05_momentum.svg"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two identical runs"


def test_the_noise_escape_figure_is_byte_identical_when_rerun(tmp_path):
    # Random runs, hatching, a colour mesh and a colour bar: the hardest figure to keep stable.
    module = figures.load("noise_escape")
    first = module.main(out_dir=tmp_path / "a", quick=True)
    second = module.main(out_dir=tmp_path / "b", quick=True)
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two identical runs"


# ------------------------------------------------------------------------------ images

@pytest.mark.parametrize("name", ["divergence", "stability", "noise_escape", "surfaces",
                                  "momentum", "adam", "minibatch", "same_name_different_numbers",
                                  "edge_of_stability", "adam_edge_of_stability"])
def test_each_figure_writes_a_projector_sized_png_and_an_svg(name, tmp_path):
    module, data = computed(name)
    paths = plots.save(module.plot(data), tmp_path, module.STEM)
    png, svg = paths
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size == (1600, 1000)
    assert 10_000 < png.stat().st_size < 400_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    assert "<dc:date>" not in text  # no timestamp: the same figure gives the same bytes


# ------------------------------------------------------------------------------ the claims

def test_divergence_matches_the_seed_and_the_growth_law():
    _, d = computed("divergence")
    assert d["first_inf_epoch"] == SEED_SGD_FIRST_INF_EPOCH
    assert d["first_nan_epoch"] > d["first_inf_epoch"]
    printed = np.array(SEED_SGD_LOSSES)
    np.testing.assert_allclose(d["sgd_loss"][:20], printed, rtol=5e-4)
    # the predicted line loss_1 * (1 - lr*lambda_max)^(2(k-1)) tracks the run while finite
    k = np.arange(5, d["first_inf_epoch"] - 1)
    np.testing.assert_allclose(d["sgd_loss"][k - 1], d["predicted"][k - 1], rtol=0.02)
    assert d["loss_ratio"] == pytest.approx(3.5547, abs=1e-4)
    # the fixes: the loss falls
    assert d["small_loss"][-1] < d["small_loss"][0] / 1000
    assert d["adam_loss"][-1] < d["adam_loss"][0] / 1000
    assert d["adam_prediction"] == pytest.approx(12.487587, abs=2e-3)
    assert np.all(np.diff(d["adam_same_start_loss"]) < 0)


def test_stability_edge_is_two_over_lambda_max_within_the_sweep_resolution():
    _, d = computed("stability")
    ratio = d["measured_threshold"] / d["critical_lr"]
    assert abs(math.log(ratio)) <= math.log(d["resolution"])
    assert d["lr_last_converged"] < d["critical_lr"] < d["lr_first_diverged"]
    below = d["lrs"] < d["critical_lr"]
    assert np.all(d["converged"][below]) and not np.any(d["converged"][~below])
    assert d["critical_lr"] == pytest.approx(2 / 288.539, rel=1e-4)


def test_at_lr_001_sixteen_points_converge_and_seventeen_diverge():
    _, d = computed("stability")
    converged = dict(zip(d["ns"].tolist(), d["n_converged"].tolist()))
    assert converged[16] and not converged[17]
    assert all(converged[n] for n in converged if n <= 16)
    assert not any(converged[n] for n in converged if n >= 17)
    assert d["max_converging_n"] == 16


def test_exact_gd_stays_in_the_local_minimum_while_noisy_gd_escapes():
    _, d = computed("noise_escape")
    assert d["exact_final_basin"] == 1                       # the shallow well
    assert abs(d["exact_path"][-1] - d["shallow_x"]) < 1e-6
    assert d["noisy_escape_fraction"] > 0.5
    assert np.all(d["map_escape_fraction"][d["sigmas"] == 0] == 0)  # no noise, no escape
    assert d["map_escape_fraction"].max() >= 0.9


def test_the_full_size_escape_map_has_ten_thousand_runs_in_one_simulation():
    module, _ = computed("noise_escape")
    sigmas, lrs = np.linspace(0, 2, 25), np.linspace(0.02, 0.5, 20)
    emap = module.escape_map(sigmas, lrs, seeds=20, steps=200)
    assert emap["runs"] == 10_000
    assert emap["escape_fraction"].shape == (25, 20)
    assert np.all(emap["escape_fraction"][0] == 0)
    assert emap["escape_fraction"][12:, :8].mean() > 0.5   # sigma >= 1, lr <= 0.2: escapes


def test_optimizers_on_surfaces_end_where_the_legend_says():
    _, d = computed("surfaces")
    for panel in d["panels"]:
        for name, path in panel["paths"].items():
            assert np.all(np.isfinite(path)), (panel["title"], name)
    rosen = d["panels"][1]["final_losses"]
    assert rosen["momentum"] < rosen["GD"] / 100 and rosen["Nesterov"] < rosen["GD"] / 100
    assert rosen["Adam"] < rosen["GD"] / 10


def test_same_name_different_numbers_agree_where_they_should_and_part_ways_where_they_do():
    _, d = computed("same_name_different_numbers")
    m = d["momentum"]
    k = d["decay_step"]
    # constant lr: one algorithm written two ways; under the step decay: apart after the drop
    assert d["momentum_constant_gap"] < 1e-12
    assert np.allclose(m["keras"][:k + 1], m["torch"][:k + 1], rtol=1e-12, atol=1e-12)
    assert d["momentum_gap"] > 0.3
    a, r = d["adam_loss"], d["rmsprop_loss"]
    assert np.allclose(a["keras_tiny_eps"], a["torch_tiny_eps"], rtol=1e-4)  # tiny eps: same numbers
    assert a["keras"][-1] > 10 * a["torch"][-1]   # eps = 0.1: Keras's effective eps is larger
    assert r["keras"][-1] > 5 * r["torch"][-1]    # sqrt(v + eps) >= sqrt(eps) slows Keras down


def test_momentum_iterates_stay_inside_the_spectral_radius_envelope():
    _, d = computed("momentum")
    assert np.all(np.abs(d["iterates"]) <= d["envelope"] * (1 + 1e-9) + 1e-300)
    # ... and the envelope is tight, not a vacuous bound
    assert np.all(np.max(np.abs(d["iterates"]) / d["envelope"], axis=1) > 0.99)
    np.testing.assert_allclose(d["rho"][2:], np.sqrt(d["betas"][2:]))   # complex roots
    overshoot = -d["iterates"].min(axis=1)
    assert overshoot[0] <= 0 and np.all(np.diff(overshoot) > 0)  # more beta, more overshoot


def test_adam_gives_the_steep_kernel_the_smaller_step_and_never_jumps():
    _, d = computed("adam")
    eff = d["adam_effective_lr"]
    assert np.all(eff[:, 0] < eff[:, 1])
    assert np.abs(np.diff(d["adam_path"], axis=0)).max() <= 1.01e-3   # ~ lr per step
    assert np.all(np.diff(d["sgd_big_loss"]) > 0)                    # lr 0.01 explodes
    assert d["sgd_small_final_loss"] < 1.0


def test_minibatch_noise_variance_falls_as_one_over_b():
    _, d = computed("minibatch")
    assert abs(d["slope_with_replacement"] + 1) < 0.1
    np.testing.assert_allclose(d["var_with"], d["trace_s"] / d["b_with"], rtol=0.15)
    n, b = d["n"], d["b_without"]
    np.testing.assert_allclose(d["var_without"], d["trace_s"] / b * (n - b) / (n - 1), rtol=0.1)
    full = d["curves"][20]["loss"]
    assert np.all(np.diff(full, axis=0) <= 0)                 # full batch: smooth descent
    single = d["curves"][1]["loss"]
    assert np.any(np.diff(single, axis=0) > 0)                # batch size 1: noisy


@pytest.mark.slow
def test_the_animation_is_a_small_gif_of_the_escape_and_byte_stable(tmp_path):
    module, d = computed("escape_animation")
    assert abs(d["exact_final"] - d["shallow_x"]) < 1e-6            # exact GD: shallow well
    assert not d["in_deep"][:, 0].any()
    assert d["in_deep"][-1, 1:].mean() > 0.15   # noisy runs escape (100 steps in quick mode)
    images = module.render(d)
    module.save_gif(images, tmp_path / "a.gif")
    module.save_gif(images, tmp_path / "b.gif")
    data = (tmp_path / "a.gif").read_bytes()
    assert data == (tmp_path / "b.gif").read_bytes()
    assert data[:6] == b"GIF89a" and len(data) < 2_000_000
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == len(d["steps"]) > 10


def test_the_figure_scripts_are_package_data_a_wheel_carries():
    """`pip install .` (not editable) must bring the scripts: gdsim.gallery is a package that
    setuptools finds, and every script is a resource inside it."""
    import importlib.resources

    import setuptools

    assert "gdsim.gallery" in setuptools.find_packages(
        where=str(Path(figures.__file__).resolve().parent.parent), include=["gdsim*"])
    shipped = {p.name for p in importlib.resources.files("gdsim.gallery").iterdir()}
    assert set(figures.SCRIPTS.values()) <= shipped


# ------------------------------------------------------------------------------ edge of stability

def test_edge_of_stability_figure_shows_gd_at_2_over_eta_and_the_control_below():
    _, d = computed("edge_of_stability")
    gd, control = d["summary"]["gd"], d["summary"]["control"]
    assert gd["first_095"] is not None and gd["first_095"] < 600
    assert gd["rising_fraction"] > 0 and gd["loss_falls"]
    assert control["max"] < 0.8 and control["monotone"]


def test_adam_edge_of_stability_figure_reaches_38_over_eta():
    _, d = computed("adam_edge_of_stability")
    assert d["summary"]["max"] >= 0.95 and d["run"].threshold == pytest.approx(3800)
