"""Animation of figure 03: exact GD settles in the shallow well while 40 noisy runs hop the barrier into the deep one.
===================================================================================================================

The same tilted double well ``f(x) = x^4/4 - x^2/2 + 0.2 x`` and the same two updates as figure
03 (exact: ``x <- x - lr f'(x)``; noisy: ``x <- x - lr (f'(x) + sigma z)``, lr = 0.1,
sigma = 1.2), all 41 runs in one ``simulate.run``. Each frame shows every run as a ball on the
curve, and a counter of how many noisy runs are in the deep well. Written as a GIF with Pillow
(one shared 256-colour palette, so the file stays small and the same bytes come out each time).

Run:  python -m gdsim.gallery.08_escape_animation [--quick] [--out DIR]  (or: gdsim figures --only escape_animation)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

import io
from pathlib import Path

import numpy as np
from PIL import Image

from gdsim import _io, figures, noise, optim, plots, simulate, surfaces

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "08_escape_animation"
TILT, LR, SIGMA, X_START = 0.2, 0.1, 1.2, 1.6
N_NOISY = 40


def compute(quick: bool = False) -> dict:
    well = surfaces.get("double_well", tilt=TILT)
    steps = 100 if quick else 300
    x0 = np.full((N_NOISY + 1, 1), X_START)
    # run 0 gets no noise: a noise scale per run, 0 for the first
    scales = np.full(N_NOISY + 1, SIGMA)
    scales[0] = 0.0
    run = simulate.run(well, optim.SGD(LR), x0, steps, noise=noise.Gaussian(scales), seed=7)
    x = run.params[..., 0]                                   # (step, run)
    deep = well.nearest_minimum(run.params) == 0             # (step, run)
    every = 5 if quick else 4
    frames = np.arange(0, steps + 1, every)
    return {"steps": run.steps[frames], "x": x[frames], "in_deep": deep[frames],
            "exact_final": float(x[-1, 0]), "shallow_x": float(well.minima[1, 0]),
            "deep_fraction_final": float(deep[-1, 1:].mean()),
            "curve_x": np.linspace(-2.0, 2.0, 300)}


def render(d: dict) -> list[Image.Image]:
    """One image per frame, drawn by updating a few artists on one figure."""
    c = plots.COLORS
    f = lambda x: x**4 / 4 - x**2 / 2 + TILT * x  # noqa: E731 - the surface's formula
    with plots.style():
        fig, ax = plots.new_figure(size_px=(1200, 750))
        ax.plot(d["curve_x"], f(d["curve_x"]), color=c["grey"], lw=3, zorder=1)
        noisy = ax.scatter(d["x"][0, 1:], f(d["x"][0, 1:]), s=90, color=c["vermillion"],
                           alpha=0.55, edgecolors="none", zorder=2, label=f"noisy GD (σ={SIGMA})")
        exact, = ax.plot(d["x"][0, :1], f(d["x"][0, :1]), "o", ms=16, color=c["black"],
                         mec="white", zorder=3, label="exact GD")
        counter = ax.text(0.02, 0.95, "", transform=ax.transAxes, va="top", fontsize=16)
        ax.set_xlim(-2.0, 2.0)
        ax.set_ylim(-0.7, 1.4)
        plots.labels(ax, "parameter x", "loss f(x)", "noise escapes the local minimum")
        ax.legend(loc="upper right")
        images = []
        for k in range(len(d["steps"])):
            xs = d["x"][k]
            noisy.set_offsets(np.column_stack([xs[1:], f(xs[1:])]))
            exact.set_data(xs[:1], f(xs[:1]))
            counter.set_text(f"step {d['steps'][k]:3d}\n"
                             f"{int(d['in_deep'][k, 1:].sum()):2d}/{N_NOISY} noisy runs in the deep well")
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=plots.DPI, metadata={"Software": None})
            buffer.seek(0)
            with Image.open(buffer) as image:
                images.append(image.convert("RGB"))
    return images


def save_gif(images: list[Image.Image], path: Path, ms_per_frame: int = 80) -> None:
    """All frames on the first frame's palette; the last frame is held for two seconds."""
    palette = images[0].quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                 dither=Image.Dither.NONE)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [ms_per_frame] * (len(frames) - 1) + [2000]

    comment = f"gdsim numerics profile: {numerics.label()}".encode()  # as plots.save does

    def write(handle) -> None:
        frames[0].save(handle, format="gif", save_all=True, append_images=frames[1:],
                       duration=durations, loop=0, optimize=False, comment=comment)

    _io.atomic_write(path, write)


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{STEM}.gif"
    save_gif(render(compute(quick)), path)
    return [path]


if __name__ == "__main__":
    figures.cli(main)
