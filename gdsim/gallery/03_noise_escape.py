"""Perfect vs noisy gradient descent: exact GD stops in the nearest local minimum, noisy GD escapes to the deeper one.
===================================================================================================================

The first seed question's answer says some gradient noise is *desirable*: it can knock the
optimizer out of a poor local minimum. Here is that toy figure, computed. The loss is the
tilted double well ``f(x) = x^4/4 - x^2/2 + 0.2 x``: a shallow well at x = 0.879 behind a low
barrier (0.082 high) and a deep well at x = -1.088.

* Exact gradient descent ``x <- x - lr f'(x)`` started at x = 1.6 rolls into the nearest
  (shallow) well and stays there forever.
* Noisy gradient descent ``x <- x - lr (f'(x) + sigma z)``, ``z ~ N(0, 1)`` (Gaussian noise
  standing in for minibatch noise) from the same start hops the barrier and settles in the
  deep well, where the barrier back (0.48) is six times higher.
* The map: the fraction of runs that end in the deep well after 500 steps, for a grid of noise
  scales x learning rates, 32 seeded runs per cell, all simulated at once (one
  ``simulate.run`` call, 24,000 runs). Too little noise: stuck. Enough: escapes. Too much
  noise x lr: the quartic walls throw the iterate out and it diverges (hatched).

Run:  python -m gdsim.gallery.03_noise_escape [--quick] [--out DIR]  (or: gdsim figures --only noise_escape)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

import time
from pathlib import Path

import numpy as np

from gdsim import figures, noise, optim, plots, simulate, surfaces

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "03_noise_escape"
TILT = 0.2
X_START = 1.6
LR = 0.1
SIGMA = 1.2


def escape_map(sigmas: np.ndarray, lrs: np.ndarray, seeds: int, steps: int) -> dict:
    """Fraction of runs ending in the deep well, for every (noise scale, lr) pair.

    Runs axes: (noise scale, learning rate, seed). Every run starts in the shallow well; the
    hyper-parameter arrays broadcast over the runs axes, so this is one simulation."""
    well = surfaces.get("double_well", tilt=TILT)
    shape = (sigmas.size, lrs.size, seeds)
    lr_grid = np.broadcast_to(lrs[None, :, None], shape).copy()
    sigma_grid = np.broadcast_to(sigmas[:, None, None], shape).copy()
    x0 = np.full(shape + (1,), well.minima[1, 0])      # minima[1] is the shallow (local) well
    started = time.perf_counter()
    run = simulate.run(well, optim.SGD(learning_rate=lr_grid), x0, steps,
                       noise=noise.Gaussian(sigma_grid), seed=2024, record="final")
    seconds = time.perf_counter() - started
    deep = well.nearest_minimum(run.final_params) == 0  # -1 (diverged) counts as not escaped
    return {"escape_fraction": deep.mean(axis=-1), "diverged_fraction": run.diverged.mean(axis=-1),
            "runs": int(np.prod(shape)), "seconds": seconds}


def map_grid(quick: bool = False) -> dict:
    """The escape map's grid: noise scales, learning rates, seeds per cell, steps."""
    return {"sigmas": np.linspace(0.0, 2.0, 12 if quick else 30),
            "lrs": np.linspace(0.02, 0.5, 10 if quick else 25),
            "seeds": 10 if quick else 32, "steps": 300 if quick else 500}


def compute(quick: bool = False) -> dict:
    # --- set-up: the surface and its two wells
    well = surfaces.get("double_well", tilt=TILT)
    deep_x, shallow_x = well.minima[0, 0], well.minima[1, 0]
    steps = 200 if quick else 300
    n_noisy = 100 if quick else 400

    # --- run: one exact run and many noisy ones from the same start
    exact = simulate.run(well, optim.SGD(LR), np.array([X_START]), steps)
    noisy = simulate.run(well, optim.SGD(LR), np.full((n_noisy, 1), X_START), steps,
                         noise=noise.Gaussian(SIGMA), seed=7)
    noisy_basin = well.nearest_minimum(noisy.final_params)

    # --- run: the escape map, > 10,000 runs at once
    grid = map_grid(quick)
    sigmas, lrs = grid["sigmas"], grid["lrs"]
    emap = escape_map(sigmas, lrs, seeds=grid["seeds"], steps=grid["steps"])

    xs = np.linspace(-2.0, 2.0, 400)
    return {"xs": xs, "fx": well.value(xs[:, None]), "deep_x": deep_x, "shallow_x": shallow_x,
            "barrier_x": float(well.barrier[0]), "barrier_height": well.barrier_height,
            "steps": exact.steps, "exact_path": exact.params[:, 0], "noisy_paths": noisy.params[..., 0],
            "exact_final_basin": int(well.nearest_minimum(exact.final_params)),
            "noisy_escape_fraction": float(np.mean(noisy_basin == 0)),
            "shown_run": int(np.argmax(noisy_basin == 0)),
            "sigmas": sigmas, "lrs": lrs, **{f"map_{k}": v for k, v in emap.items()}}


def plot(d: dict):
    c = plots.COLORS
    with plots.style():
        fig, ax = plots.new_mosaic([["curve", "map"], ["time", "map"]],
                                   width_ratios=[1.15, 1])
        # Top left: the surface with the two runs' iterates on it.
        curve = ax["curve"]
        curve.plot(d["xs"], d["fx"], color=c["grey"], lw=3, zorder=1)
        f = lambda x: x**4 / 4 - x**2 / 2 + TILT * x  # noqa: E731 - the surface, for the dots
        noisy = d["noisy_paths"][:, d["shown_run"]]  # the first noisy run that escaped
        curve.plot(noisy, f(noisy), "o", ms=4, color=c["vermillion"], alpha=0.35,
                   label=f"noisy GD (σ={SIGMA}) iterates")
        curve.plot(d["exact_path"], f(d["exact_path"]), "o-", ms=5, lw=1.2, color=c["black"],
                   label="exact GD iterates")
        curve.plot(noisy[-1], f(noisy[-1]), "o", ms=13, color=c["vermillion"], mec="white")
        curve.plot(d["exact_path"][-1], f(d["exact_path"][-1]), "o", ms=13, color=c["black"],
                   mec="white")
        curve.annotate("start", (X_START, f(X_START)), xytext=(-10, 10), textcoords="offset points",
                       ha="right", fontsize=14)
        curve.set_ylim(-0.7, 1.75)
        plots.labels(curve, "parameter x", "loss f(x)", "one run of each, on the loss")
        curve.legend(loc="upper center", fontsize=13)

        # Bottom left: x against step, one exact run and the first 30 noisy ones.
        tax = ax["time"]
        drawn = d["noisy_paths"][:, :30]
        n_noisy = d["noisy_paths"].shape[1]
        drawn_deep = int(np.sum(drawn[-1] < d["barrier_x"]))
        for path in drawn.T:
            tax.plot(d["steps"], path, color=c["vermillion"], lw=0.8, alpha=0.45)
        tax.plot(d["steps"], d["exact_path"], color=c["black"], lw=3, label="exact GD")
        tax.plot([], [], color=c["vermillion"], lw=1.5,
                 label=f"noisy GD, {drawn.shape[1]} of {n_noisy} runs drawn:\n"
                       f"{drawn_deep} of these {drawn.shape[1]}, and {d['noisy_escape_fraction']:.0%} "
                       f"of all {n_noisy},\nend in the deep well")
        for y in (d["shallow_x"], d["deep_x"]):
            tax.axhline(y, color=c["grey"], ls=":", lw=1.5)
        tax.axhline(d["barrier_x"], color=c["grey"], ls="--", lw=1)
        tax.set_yticks([d["deep_x"], d["barrier_x"], d["shallow_x"]],
                       ["global min", "barrier", "local min"])
        tax.set_ylim(-2.0, 4.8)
        plots.labels(tax, "step", "parameter x", f"{drawn.shape[1] + 1} runs over time")
        tax.legend(loc="upper right", fontsize=13)

        # Right: the escape-probability map.
        mp = ax["map"]
        mesh = mp.pcolormesh(d["lrs"], d["sigmas"], d["map_escape_fraction"], shading="nearest",
                             cmap="viridis", vmin=0, vmax=1, rasterized=True)
        bar = fig.colorbar(mesh, ax=mp, shrink=0.9)
        bar.set_label("fraction ending in the deep well")
        mp.contourf(d["lrs"], d["sigmas"], d["map_diverged_fraction"], levels=[0.5, 1.01],
                    colors="none", hatches=["//"])
        mp.contour(d["lrs"], d["sigmas"], d["map_diverged_fraction"], levels=[0.5],
                   colors="white", linewidths=2)
        # Iso-"temperature" curve: noise of variance lr*sigma^2/2 per unit time, at half the barrier.
        lr_line = np.linspace(d["lrs"][0], d["lrs"][-1], 200)
        sigma_line = np.sqrt(2 * (d["barrier_height"] / 2) / lr_line)
        keep = sigma_line <= d["sigmas"][-1]
        mp.plot(lr_line[keep], sigma_line[keep], color="white", ls="--", lw=2)
        # Labels on the map sit on dark boxes: white on the yellow cells would vanish.
        on_map = dict(boxstyle="round,pad=0.25", facecolor="black", alpha=0.65, edgecolor="none")
        mp.text(0.46, 0.62, "lr·σ²/2 = barrier/2", color="white", fontsize=13, ha="right",
                transform=mp.transData, bbox=on_map)
        mp.text(0.47, 1.9, "diverges", color="white", fontsize=14, ha="right", va="top",
                fontweight="bold")
        mp.text(0.03, 0.12, "stuck", color="white", fontsize=14, fontweight="bold")
        mp.plot(LR, SIGMA, "*", ms=18, color=c["vermillion"], mec="white")
        mp.annotate("left panels", (LR, SIGMA), xytext=(14, 0), textcoords="offset points",
                    va="center", color="white", fontsize=13, bbox=on_map)
        plots.labels(mp, "learning rate", "noise scale σ",
                     f"{d['map_runs']:,} runs at once")
        fig.suptitle("Perfect vs noisy GD: noise escapes the local minimum", fontsize=19)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
