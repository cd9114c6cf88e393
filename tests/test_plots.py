"""The shared figure style: sizes, fonts, palette, byte-stable saving, the drawing helpers."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from PIL import Image

from gdsim import plots, surfaces


def test_new_figure_is_projector_sized_with_large_fonts():
    with plots.style():
        fig, ax = plots.new_figure()
        ax.plot([0, 1], [0, 1])
        plots.labels(ax, "epoch", "loss (MSE)", "the point")
        fig.canvas.draw()
        assert ax.xaxis.get_ticklabels()[0].get_fontsize() >= 14
        assert ax.yaxis.label.get_fontsize() >= 16
        assert ax.title.get_fontsize() >= 16
    w, h = fig.get_size_inches() * fig.dpi
    assert (round(w), round(h)) == (1600, 1000)
    _, axes = plots.new_figure(2, 3, sharey=True)
    assert axes.shape == (2, 3)


def test_style_is_scoped_to_the_block():
    before = matplotlib.rcParams["xtick.labelsize"]
    with plots.style():
        assert matplotlib.rcParams["xtick.labelsize"] == 14
    assert matplotlib.rcParams["xtick.labelsize"] == before


def test_palette_is_okabe_ito_and_every_optimizer_has_a_distinct_look():
    assert plots.COLORS["vermillion"] == "#D55E00" and plots.COLORS["blue"] == "#0072B2"
    looks = {(s["color"], s["linestyle"]) for k, s in plots.OPTIMIZER_STYLE.items() if k != "SGD"}
    assert len(looks) == len(plots.OPTIMIZER_STYLE) - 1


def test_saving_twice_gives_identical_bytes_and_the_expected_pixels(tmp_path):
    with plots.style():
        fig, ax = plots.new_figure()
        plots.loss_contours(ax, surfaces.get("rosenbrock"), [-2, -1], [2, 3], resolution=60)
        plots.trajectory(ax, np.array([[-1.5, 2.0], [0.0, 0.5], [1.0, 1.0]]), "GD",
                         color=plots.COLORS["black"])
        plots.vline(ax, 0.5, "marker")
        plots.note(ax, "a note")
    first = plots.save(fig, tmp_path / "a", "fig", formats=("png", "svg", "pdf"))
    second = plots.save(fig, tmp_path / "b", "fig", formats=("png", "svg", "pdf"))
    assert [p.suffix for p in first] == [".png", ".svg", ".pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.suffix
    with Image.open(first[0]) as image:
        assert image.size == (1600, 1000)


def test_bad_arguments_fail_clearly(tmp_path):
    with plots.style():
        fig, ax = plots.new_figure()
    with pytest.raises(ValueError, match="unknown format 'jpg'"):
        plots.save(fig, tmp_path, "x", formats=("jpg",))
    with pytest.raises(ValueError, match="unknown loc"):
        plots.note(ax, "text", loc="middle")
    with pytest.raises(ValueError, match="nrows must be >= 1"):
        plots.new_figure(0, 1)


def test_point_label_reads_diverged_for_non_finite_points():
    assert plots.point_label([1.0, 0.5], 2) == "(1.00, 0.50)"
    assert plots.point_label([np.nan, 1.0]) == "diverged"
    assert plots.point_label([np.inf, 1.0]) == "diverged"


def test_grid_points_cover_the_box():
    X, Y, P = plots.grid_points([-1, 0], [1, 2], 5)
    assert P.shape == (5, 5, 2)
    assert P[0, 0].tolist() == [-1, 0] and P[-1, -1].tolist() == [1, 2]


def test_importing_plots_does_not_touch_pyplot():
    code = "import sys, gdsim.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_counts_and_durations_read_as_english_on_a_slide():
    assert plots.plural(1, "spike") == "1 spike" and plots.plural(0, "spike") == "0 spikes"
    assert plots.duration(0.43) == "0.4 s" and plots.duration(556.2) == "556 s"


def test_plain_log_ticks_and_integer_ticks():
    with plots.style():
        fig, ax = plots.new_figure()
        ax.semilogy([1, 2, 3, 4], [0.4, 0.7, 1.3, 2.1])
        ax.set_ylim(0.35, 2.5)
        plots.plain_log_ticks(ax)
        plots.integer_ticks(ax)
        fig.canvas.draw()
        y_labels = [t.get_text() for t in ax.get_yticklabels()]
        x_ticks = ax.get_xticks()
    assert y_labels == ["0.4", "0.6", "1", "2"]  # never "4 x 10^-1"
    assert np.all(x_ticks == np.round(x_ticks))  # no 1.5 epochs
