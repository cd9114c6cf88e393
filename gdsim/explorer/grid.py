"""The explorer's grid of slider values and gdsim's runs over it.

The page shows nothing it did not get from here: every trajectory it draws is a slice of one
:func:`gdsim.simulate.run` call per (surface, optimizer), with every slider stop on a runs
axis. The runs shape of every call is the same five axes::

    (start, learning rate, beta_1 / momentum, beta_2 / rho, noise setting)

with size 1 where an optimizer has no such hyper-parameter (GD: ``(S, L, 1, 1, N)``; Adam:
``(S, L, B1, B2, N)``). The noise axis lists ``(scale 0)`` once, then every
``(scale > 0, seed)`` pair. Runs are float32 (Keras's arithmetic) and record every step, so
the first ``n`` recorded steps of a run are exactly the run with ``steps=n``.

Seeds. The noise of the run with seed ``s`` comes from ``simulate.run(..., seed=NOISE_ROOT,
run_ids=s)``: every run with the same seed value sees the same stream of normals whatever its
learning rate or start (common random numbers, so moving the learning-rate slider does not
also change the noise), and any one run can be reproduced alone with its own scalars.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gdsim import noise, optim, simulate, surfaces

__all__ = ["OPTIMIZERS", "Preset", "Grid", "presets", "grid_for", "optimizer_for",
           "run_shape", "noise_settings", "simulate_preset", "escape_map", "NOISE_ROOT", "DTYPE",
           "MAP_MAX_SIGMA"]

DTYPE = "float32"
NOISE_ROOT = 2024
#: The escape map's noise axis runs from 0 to this (twice figure 03's sigma = 1.2).
MAP_MAX_SIGMA = 2.4

#: The optimizers in the order the page lists them (the keys match gdsim.plots.OPTIMIZER_STYLE).
OPTIMIZERS = ("GD", "momentum", "Nesterov", "Adam", "RMSprop", "Adagrad")
#: Which of the two shared hyper-parameter sliders each optimizer reads.
USES = {"GD": (), "momentum": ("beta1",), "Nesterov": ("beta1",), "Adam": ("beta1", "beta2"),
        "RMSprop": ("beta2",), "Adagrad": ()}
#: Learning rates scale with 2/lambda_max for the curvature-limited rules, with the box width
#: for the adaptive ones (their step is about lr per coordinate).
ADAPTIVE = {"Adam", "RMSprop", "Adagrad"}


@dataclasses.dataclass(frozen=True)
class Grid:
    """How many stops each slider has (the default explorer and the --quick one)."""

    starts: int
    steps: int
    lr_fractions: tuple[float, ...]      # x 2/lambda_max, for GD / momentum / Nesterov
    lr_box_fractions: tuple[float, ...]  # x box width, for Adam / RMSprop / Adagrad
    beta1: tuple[float, ...]
    beta2: tuple[float, ...]
    noise_levels: tuple[float, ...]      # x the surface's noise unit; 0 first
    seeds: tuple[int, ...]
    map_lrs: int
    map_sigmas: int
    map_seeds: int
    map_steps: int


FULL = Grid(starts=4, steps=80, lr_fractions=(0.02, 0.05, 0.1, 0.25, 0.5, 0.98, 1.02, 1.5),
            lr_box_fractions=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1), beta1=(0.5, 0.9, 0.99),
            beta2=(0.9, 0.999), noise_levels=(0.0, 1.0), seeds=(0, 1), map_lrs=20, map_sigmas=20,
            map_seeds=32, map_steps=400)
QUICK = Grid(starts=3, steps=40, lr_fractions=(0.1, 0.5, 0.98, 1.02),
             lr_box_fractions=(0.005, 0.02, 0.05), beta1=(0.5, 0.9), beta2=(0.999,),
             noise_levels=(0.0, 1.0), seeds=(0, 1), map_lrs=8, map_sigmas=8, map_seeds=8,
             map_steps=200)


def grid_for(quick: bool) -> Grid:
    return QUICK if quick else FULL


@dataclasses.dataclass(frozen=True)
class Preset:
    """One surface as the page offers it.

    Attributes:
        key: the name in the URL (``bowl-10``, ``rosenbrock``, ...).
        family: the surface-menu entry (``bowl`` has one preset per condition number).
        label: what the page shows.
        surface: the gdsim surface.
        box: (lo, hi), a square box (equal axis scales on the page).
        starts: (S, 2) the precomputed start points, in order of interest.
        noise_unit: the gradient-noise scale that ``noise level 1`` means.
        note: one line for the page on what to try.
    """

    key: str
    family: str
    label: str
    surface: Any
    box: tuple[np.ndarray, np.ndarray]
    starts: np.ndarray
    noise_unit: float
    note: str

    @property
    def references(self) -> np.ndarray:
        """(k, 2) the points whose Hessian the stability read-out uses: the minima (global
        first), or the saddle point of a surface without minima."""
        minima = self.surface.minima
        return minima if len(minima) else self.surface.saddle_points

    @property
    def critical_lr(self) -> float:
        """2 / lambda_max of the Hessian at the first reference point (the global minimum)."""
        lam = np.linalg.eigvalsh(self.surface.hessian(self.references[0]))
        return 2.0 / float(np.max(lam))

    def learning_rates(self, optimizer: str, grid: Grid) -> np.ndarray:
        if optimizer in ADAPTIVE:
            width = float(self.box[1][0] - self.box[0][0])
            return _round(np.array(grid.lr_box_fractions) * width)
        return _round(np.array(grid.lr_fractions) * self.critical_lr)


def _round(values: np.ndarray) -> np.ndarray:
    """Three significant digits: slider stops a lecturer can read out and type into a URL."""
    return np.array([float(f"{v:.3g}") for v in values])


def _square(lo: Any, hi: Any) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    centre, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2
    return centre - half, centre + half


def presets() -> list[Preset]:
    """Every surface the page offers, in menu order."""
    out = []
    bowl_starts = [[-2.6, 2.2], [2.5, 2.6], [-2.8, 0.4], [0.6, -2.8], [2.2, -1.2]]
    for kappa in (1, 10, 100):
        out.append(Preset(f"bowl-{kappa}", "bowl", f"quadratic bowl, condition number {kappa}",
                          surfaces.get("quadratic", dim=2, condition_number=kappa),
                          _square([-3, -3], [3, 3]), np.array(bowl_starts), 1.0,
                          "GD converges iff lr < 2/lambda_max = 2; the condition number sets how "
                          "slowly the flat direction follows."))
    rosen = surfaces.get("rosenbrock")
    out.append(Preset("rosenbrock", "rosenbrock", "Rosenbrock valley (a=1, b=100)", rosen,
                      _square(*rosen.box),
                      np.array([[-1.5, 2.0], [-1.0, -0.5], [0.0, 2.5], [1.6, 1.0], [-0.5, 0.6]]),
                      10.0, "Steep walls limit GD's learning rate; the flat floor then takes "
                            "thousands of steps. Compare momentum and Adam."))
    well = surfaces.get("double_well", dim=2, tilt=0.2)
    out.append(Preset("double_well", "double_well", "tilted double well (tilt 0.2)", well,
                      _square(*well.box),
                      np.array([[0.879, 0.0], [1.6, 1.0], [-1.8, 1.2], [0.3, 1.3], [1.7, -1.2]]),
                      1.2, "Exact GD from the shallow well stays there; noise hops the barrier. "
                           "The escape map counts how often."))
    saddle = surfaces.get("saddle")
    out.append(Preset("saddle", "saddle", "saddle x^2 - y^2", saddle, _square(*saddle.box),
                      np.array([[-1.8, 0.0], [-1.8, 0.2], [-1.8, 0.6], [1.5, -1.2], [0.4, 1.8]]),
                      0.5, "Started exactly on the x axis, exact GD stops at the saddle; any "
                           "noise, or y != 0, leaves along y."))
    himmel = surfaces.get("himmelblau")
    out.append(Preset("himmelblau", "himmelblau", "Himmelblau (four minima)", himmel,
                      _square(*himmel.box),
                      np.array([[0.0, 0.0], [-4.5, 4.5], [4.5, -4.5], [-1.0, -4.5], [1.0, 4.5]]),
                      20.0, "Four global minima: which one a run reaches depends on the start, "
                            "the optimizer and the learning rate."))
    return out


def noise_settings(grid: Grid) -> list[tuple[float, int]]:
    """The noise axis: ``(level 0, seed 0)`` once, then every ``(level > 0, seed)`` pair."""
    settings = [(0.0, grid.seeds[0])]
    settings += [(level, seed) for level in grid.noise_levels if level > 0 for seed in grid.seeds]
    return settings


def run_shape(preset: Preset, optimizer: str, grid: Grid) -> tuple[int, ...]:
    uses = USES[optimizer]
    return (min(grid.starts, len(preset.starts)), len(preset.learning_rates(optimizer, grid)),
            len(grid.beta1) if "beta1" in uses else 1, len(grid.beta2) if "beta2" in uses else 1,
            len(noise_settings(grid)))


def optimizer_for(name: str, lr: Any, beta1: Any, beta2: Any) -> optim.Optimizer:
    """The gdsim optimizer behind a menu entry (Keras defaults for everything not on a slider;
    RMSprop's rho is the beta_2 slider)."""
    if name == "GD":
        return optim.SGD(learning_rate=lr)
    if name in ("momentum", "Nesterov"):
        return optim.SGD(learning_rate=lr, momentum=beta1, nesterov=name == "Nesterov")
    if name == "Adam":
        return optim.Adam(learning_rate=lr, beta_1=beta1, beta_2=beta2)
    if name == "RMSprop":
        return optim.RMSprop(learning_rate=lr, rho=beta2)
    if name == "Adagrad":
        return optim.Adagrad(learning_rate=lr)
    raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")


def simulate_preset(preset: Preset, optimizer: str, grid: Grid) -> simulate.Trajectory:
    """All runs of one optimizer on one surface: one ``simulate.run`` call over the runs shape
    ``(start, lr, beta1, beta2, noise setting)``; params (steps + 1, *runs, 2)."""
    shape = run_shape(preset, optimizer, grid)
    axis = lambda values, i: np.asarray(values, dtype=np.float64).reshape(  # noqa: E731
        tuple(-1 if j == i else 1 for j in range(5)))
    uses = USES[optimizer]
    lr = axis(preset.learning_rates(optimizer, grid), 1)
    beta1 = axis(grid.beta1, 2) if "beta1" in uses else 0.9
    beta2 = axis(grid.beta2, 3) if "beta2" in uses else 0.999
    settings = noise_settings(grid)
    scale = np.broadcast_to(axis([level * preset.noise_unit for level, _ in settings], 4), shape)
    seed_ids = np.broadcast_to(axis([seed for _, seed in settings], 4).astype(np.int64), shape)
    x0 = np.broadcast_to(preset.starts[:shape[0]].reshape(shape[0], 1, 1, 1, 1, 2), shape + (2,))
    return simulate.run(preset.surface, optimizer_for(optimizer, lr, beta1, beta2), x0, grid.steps,
                        noise=noise.Gaussian(scale.copy()),
                        seed=NOISE_ROOT, dtype=DTYPE, run_ids=seed_ids.copy())


def escape_map(preset: Preset, grid: Grid) -> dict[str, np.ndarray]:
    """Fraction of seeded noisy GD runs from the shallow well that end in the deep one, over
    learning rate x noise scale (as figure 03, on the 2-D well): one ``simulate.run`` call,
    runs shape (noise scale, lr, seed)."""
    well = preset.surface
    lrs = _round(np.linspace(0.05, 1.0, grid.map_lrs) * preset.critical_lr)
    sigmas = _round(np.linspace(0.0, MAP_MAX_SIGMA, grid.map_sigmas))
    shape = (sigmas.size, lrs.size, grid.map_seeds)
    x0 = np.broadcast_to(well.minima[1], shape + (2,))  # minima[1] is the shallow well
    run = simulate.run(well, optim.SGD(learning_rate=lrs.reshape(1, -1, 1)), x0, grid.map_steps,
                       noise=noise.Gaussian(np.broadcast_to(sigmas.reshape(-1, 1, 1), shape).copy()),
                       seed=NOISE_ROOT, dtype=DTYPE, record="final")
    deep = well.nearest_minimum(run.final_params) == 0  # diverged (-1) is not an escape
    return {"lrs": lrs, "sigmas": sigmas, "escaped": deep.mean(axis=-1),
            "diverged": run.diverged.mean(axis=-1), "seeds": grid.map_seeds,
            "steps": grid.map_steps}
