"""One shared look for every lecture figure: big fonts, colour-blind-safe colours, no junk.

Builders make a :class:`matplotlib.figure.Figure` directly (Agg canvas, no ``pyplot`` and no
global figure state) and never show it; :func:`save` writes it as PNG + SVG with fixed
metadata, so the same data give the same bytes::

    from gdsim import plots
    with plots.style():
        fig, ax = plots.new_figure()
        ax.plot(epochs, loss, color=plots.COLORS["blue"], label="SGD")
        plots.labels(ax, "epoch", "loss (MSE)", title="the loss grows 3.55x every epoch")
    paths = plots.save(fig, "figures", "01_divergence")

Sizes are chosen for a projector: 1600 x 1000 px (10.67 x 6.67 in at 150 dpi), tick labels
14 pt, axis labels 16 pt, titles 18 pt, so text stays readable from the back of a lecture hall.
Colours are the Okabe-Ito palette (Okabe & Ito 2008), distinguishable under the common
colour-vision deficiencies; line styles differ too, so a figure also survives grey-scale.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from gdsim import _io, _validate

__all__ = ["COLORS", "CYCLE", "OPTIMIZER_STYLE", "RC", "DPI", "SIZE_PX", "style", "new_figure",
           "new_mosaic", "labels", "save", "loss_contours", "trajectory", "point_label", "grid_points",
           "vline", "note"]

#: Okabe-Ito colour-blind-safe palette.
COLORS = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}

#: Default colour order (yellow last: it is faint on white).
CYCLE = [COLORS[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky", "black",
                             "yellow")]

#: One colour and line style per optimizer, the same in every figure.
OPTIMIZER_STYLE = {
    "GD": {"color": COLORS["black"], "linestyle": "-"},
    "SGD": {"color": COLORS["black"], "linestyle": "-"},
    "momentum": {"color": COLORS["blue"], "linestyle": "-"},
    "Nesterov": {"color": COLORS["sky"], "linestyle": "--"},
    "Adam": {"color": COLORS["vermillion"], "linestyle": "-"},
    "RMSprop": {"color": COLORS["green"], "linestyle": "-."},
    "Adagrad": {"color": COLORS["purple"], "linestyle": ":"},
}

DPI = 150
SIZE_PX = (1600, 1000)

#: The rcParams every figure is built and saved under.
RC: dict[str, Any] = {
    "font.size": 15,
    "axes.titlesize": 18,
    "axes.titleweight": "bold",
    "axes.labelsize": 16,
    "xtick.labelsize": 14,
    "ytick.labelsize": 14,
    "legend.fontsize": 13,
    "legend.title_fontsize": 14,
    "legend.frameon": False,
    "figure.titlesize": 20,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "lines.linewidth": 2.5,
    "lines.markersize": 7,
    "image.cmap": "viridis",
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    # Byte-stable output: SVG element ids come from this salt instead of a random one, text is
    # drawn as paths (no dependence on the viewer's fonts).
    "svg.hashsalt": "gdsim",
    "svg.fonttype": "path",
    "pdf.compression": 9,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Build (and save) figures inside this block to get the shared look."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, size_px: Sequence[int] = SIZE_PX,
               squeeze: bool = True, sharex: bool | str = False, sharey: bool | str = False,
               **subplot_kw: Any) -> tuple[Figure, Any]:
    """A constrained-layout :class:`Figure` on an Agg canvas and its axes.

    ``size_px`` is the PNG size in pixels at :data:`DPI`; ``sharex``/``sharey`` as in
    ``Figure.subplots``; other keywords go to every axes (e.g. ``projection``). Returns ``(fig, ax)`` for one panel,
    ``(fig, array of axes)`` otherwise (as ``plt.subplots``). Call inside :func:`style`.
    """
    nrows = _validate.integer("nrows", nrows, minimum=1)
    ncols = _validate.integer("ncols", ncols, minimum=1)
    width, height = (_validate.integer("size_px", int(v), minimum=100) for v in size_px)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, sharex=sharex, sharey=sharey,
                        subplot_kw=subplot_kw or None)
    return fig, axes


def new_mosaic(layout: Any, *, size_px: Sequence[int] = SIZE_PX, **kwargs: Any) -> tuple[Figure, dict]:
    """Like :func:`new_figure` but with ``Figure.subplot_mosaic(layout)`` (panels of unequal
    size): returns ``(fig, {label: ax})``."""
    width, height = (_validate.integer("size_px", int(v), minimum=100) for v in size_px)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplot_mosaic(layout, **kwargs)


def labels(ax: Any, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Axis labels (with units) and a title that states the point."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left")


def plural(count: int, noun: str) -> str:
    """``"1 spike"``, ``"2 spikes"``: counts on a slide read as English."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def duration(seconds: float) -> str:
    """A run time for a figure's note: ``"0.4 s"`` below 10 s (a quick run is never "0 s")."""
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def integer_ticks(ax: Any, axis: str = "x") -> None:
    """Whole-number ticks only (epochs): a 4-epoch run gets 1, 2, 3, 4, not 1.5 and 2.5."""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def plain_log_ticks(ax: Any, axis: str = "y") -> None:
    """Label a log axis with plain decimals (0.4, 0.6, 1, 2), not 4 x 10^-1; call it after the
    limits are set. Within a decade or two the ticks are 1-2-4-6 or 1-2-5 steps, beyond that
    the decades."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    low, high = getattr(ax, f"get_{axis}lim")()
    span = np.log10(high / low)
    mantissas = (1, 2, 4, 6) if span <= 1.2 else (1, 2, 5) if span <= 2.5 else (1,)
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    ticks = [m * 10.0**e for e in decades for m in mantissas if low <= m * 10.0**e <= high]
    scale = getattr(ax, f"{axis}axis")
    scale.set_ticks(ticks)
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    scale.set_minor_formatter(NullFormatter())


def save(fig: Figure, out_dir: str | os.PathLike, stem: str,
         formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``out_dir/stem.<fmt>`` for each format, atomically and byte-stably.

    Returns the paths written. The same figure saved twice gives identical bytes. Each file's
    metadata names the numerics profile it was computed under (``Description`` in PNG and
    SVG, ``Subject`` in PDF; :func:`gdsim.numerics.label`), the same text on every machine
    that computes the same bits.
    """
    from gdsim import numerics

    profile = f"gdsim numerics profile: {numerics.label()}"
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {_validate.show(fig)}")
    if not isinstance(stem, str) or not stem.strip() or os.sep in stem or stem in (".", ".."):
        raise ValueError(f"stem must be a file name without extension or folder, got {_validate.show(stem)}")
    formats = [_validate.choice("format", fmt, ["png", "svg", "pdf"])
               for fmt in _validate.sequence("formats", formats, "format names")]
    # checked before anything is drawn or created: '' would be the current folder
    out = Path(_io.ensure_folder("out_dir", out_dir))
    writes = []
    with style():
        for fmt in formats:
            path = out / f"{stem}.{fmt}"
            if fmt == "png":
                png = _palette_png(fig, profile)
                writes.append((path, lambda handle, png=png: handle.write(png)))
            else:
                writes.append((path, _io.figure_writer(fig, path, profile, {"dpi": DPI})))
        # the PNG, SVG (and PDF) are replaced together or not at all: never a new PNG beside
        # an old SVG after a full disk
        _io.atomic_write_all(writes)
    return [path for path, _ in writes]


def _palette_png(fig: Figure, description: str | None = None) -> bytes:
    """The figure as a 256-colour PNG: line art and flat fills need no more, and the file is
    ~3x smaller than 24-bit RGBA (slides and repositories stay light). Deterministic: the
    median-cut palette depends only on the pixels, and the only text chunk written is
    ``description`` (no dates or versions)."""
    from PIL import Image, PngImagePlugin  # matplotlib's own dependency

    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI, metadata={"Software": None})
    raw.seek(0)
    with Image.open(raw) as image:
        rgb = image.convert("RGB")
    paletted = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                            dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    if description is not None:
        info.add_text(_io.DESCRIPTION_KEY["png"], description)
    out = io.BytesIO()
    paletted.save(out, format="png", optimize=True, dpi=(DPI, DPI), pnginfo=info)
    return out.getvalue()


def grid_points(lo: Sequence[float], hi: Sequence[float], n: int = 300) -> tuple[np.ndarray, ...]:
    """``(X, Y, P)``: an ``n x n`` mesh over the box and its points ``P`` of shape (n, n, 2)."""
    xs = np.linspace(lo[0], hi[0], n)
    ys = np.linspace(lo[1], hi[1], n)
    X, Y = np.meshgrid(xs, ys)
    return X, Y, np.stack([X, Y], axis=-1)


def loss_contours(ax: Any, surface: Any, lo: Sequence[float], hi: Sequence[float], *,
                  n_levels: int = 14, log: bool = True, resolution: int = 300,
                  filled: bool = True) -> Any:
    """Loss contours of ``surface`` over the box ``[lo, hi]`` (one vectorized evaluation).

    ``log=True`` spaces the levels geometrically above the minimum value in the box, so both
    the steep walls and the flat floor of a valley show. Returns the contour set.
    """
    X, Y, P = grid_points(lo, hi, resolution)
    Z = np.asarray(surface.value(P), dtype=np.float64)
    base = float(np.nanmin(Z))
    if log:
        span = Z - base
        top = float(np.nanpercentile(span, 99))
        low = max(top * 1e-4, 1e-12)
        levels = np.geomspace(low, top, n_levels)
        Zs = span
    else:
        levels = np.linspace(base, float(np.nanpercentile(Z, 99)), n_levels)
        Zs = Z
    if filled:  # the fills are rasterized: vector fills make multi-megabyte SVGs
        fills = ax.contourf(X, Y, Zs, levels=levels, cmap="Greys", alpha=0.35, extend="max")
        fills.set_rasterized(True)
    cs = ax.contour(X, Y, Zs, levels=levels, colors=COLORS["grey"], linewidths=0.8, alpha=0.8)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    return cs


def trajectory(ax: Any, path: np.ndarray, label: str, *, color: str, linestyle: str = "-",
               markevery: int | None = None, zorder: int = 3) -> None:
    """A 2-D path (k, 2): a line from a hollow start marker to a filled end marker."""
    path = np.asarray(path, dtype=np.float64)
    ax.plot(path[:, 0], path[:, 1], color=color, linestyle=linestyle, label=label, lw=2.2,
            marker="o" if markevery else None, markevery=markevery, markersize=3, zorder=zorder)
    finite = np.isfinite(path).all(axis=1)
    if finite.any():
        end = path[np.nonzero(finite)[0][-1]]
        ax.plot(*end, marker="o", markersize=9, color=color, markeredgecolor="white",
                markeredgewidth=1.2, zorder=zorder + 1)


def point_label(point: Sequence[float], digits: int = 3) -> str:
    """``(x, y)`` formatted for a legend; non-finite coordinates read 'diverged'."""
    point = np.asarray(point, dtype=np.float64)
    if not np.all(np.isfinite(point)):
        return "diverged"
    # round first, then add 0.0, so -0.001 shows as 0.00 rather than -0.00
    return "(" + ", ".join(f"{round(float(v), digits) + 0.0:.{digits}f}" for v in point) + ")"


def vline(ax: Any, x: float, text: str, *, color: str = COLORS["black"], y: float = 0.96,
          ha: str = "left", linestyle: str = "--") -> None:
    """A labelled vertical marker line (the label sits at axes height ``y``)."""
    ax.axvline(x, color=color, linestyle=linestyle, lw=1.8, zorder=1)
    offset = 6 if ha == "left" else -6
    ax.annotate(text, xy=(x, y), xycoords=("data", "axes fraction"), xytext=(offset, 0),
                textcoords="offset points", ha=ha, va="top", color=color, fontsize=14)


def note(ax: Any, text: str, *, loc: str = "lower right", fontsize: int = 14) -> None:
    """A short explanatory text in a corner of the axes."""
    positions = {"lower right": (0.98, 0.04, "right", "bottom"),
                 "lower left": (0.02, 0.04, "left", "bottom"),
                 "upper right": (0.98, 0.96, "right", "top"),
                 "upper left": (0.02, 0.96, "left", "top")}
    x, y, ha, va = positions[_validate.choice("loc", loc, list(positions))]
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=fontsize,
            bbox={"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.85})
