"""How much faster is one vectorized simulation than the textbook loop? (a benchmark, not a test)

Workload: 10,000 runs x 1,000 steps of Adam (Keras formulas, lr 0.01) on the 2-D tilted double
well with Gaussian gradient noise (sigma 0.5), each run seeded on its own.

* vectorized: ONE ``gdsim.simulate.run`` call; the 10,000 runs are the leading axis of every
  array, so each step is a handful of NumPy operations on (10000, 2) arrays.
* loop: the way textbook code does it -- one run at a time, step by step, a (2,) point, the
  gradient ``surface.grad(x) + sigma * z`` and Adam's update written out. Only a subset of the
  runs (``--loop-runs``, default 20) is timed; the per-run time is scaled to all runs. The loop
  draws each run's noise from the same per-run generator as the simulator, so its final points
  are compared with the vectorized ones (they agree to rounding).

Also timed: the full-size escape-probability map of figure 03 (24,000 runs x 500 steps).

    python benchmarks/sweep_throughput.py [--runs N] [--steps K] [--loop-runs M] [--json]

Prints runs*steps per second for both, their ratio (the target is >= 100x) and the map time;
``--json`` prints {"vectorized_steps_per_s", "loop_steps_per_s", "ratio", "escape_map_seconds",
...} instead. Everything runs in this one process; timings are wall-clock (time.perf_counter).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gdsim import figures, noise, optim, simulate, surfaces

LR, BETA_1, BETA_2, EPSILON = 0.01, 0.9, 0.999, 1e-7   # Keras Adam defaults, lr 0.01
SIGMA = 0.5
SEED = 0


def problem_and_starts(runs: int) -> tuple:
    well = surfaces.get("double_well", dim=2)
    rng = np.random.default_rng(12345)
    lo, hi = well.box
    return well, rng.uniform(lo, hi, size=(runs, 2))


def vectorized(well, x0: np.ndarray, steps: int) -> np.ndarray:
    run = simulate.run(well, optim.Adam(LR), x0, steps, noise=noise.Gaussian(SIGMA), seed=SEED,
                       record="final")
    return run.final_params


def textbook_adam_run(well, x0: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """One run, one step at a time: the loop a textbook would write."""
    x = x0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t in range(1, steps + 1):
        g = well.grad(x) + SIGMA * rng.standard_normal(2)
        m = m + (g - m) * (1 - BETA_1)
        v = v + (g * g - v) * (1 - BETA_2)
        alpha = LR * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        x = x - m * alpha / (np.sqrt(v) + EPSILON)
    return x


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--loop-runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-map", action="store_true", help="do not time the escape map")
    args = parser.parse_args(argv)

    well, x0 = problem_and_starts(args.runs)
    start = time.perf_counter()
    final = vectorized(well, x0, args.steps)
    t_vec = time.perf_counter() - start

    loop_runs = min(args.loop_runs, args.runs)
    rngs = simulate.run_generators(SEED, np.arange(loop_runs))  # the simulator's own streams
    start = time.perf_counter()
    loop_final = np.array([textbook_adam_run(well, x0[i], args.steps, rngs[i])
                           for i in range(loop_runs)])
    t_loop_subset = time.perf_counter() - start
    t_loop = t_loop_subset / loop_runs * args.runs

    work = args.runs * args.steps
    result = {
        "runs": args.runs, "steps": args.steps, "loop_runs_timed": loop_runs,
        "vectorized_seconds": t_vec, "loop_seconds_scaled": t_loop,
        "vectorized_steps_per_s": work / t_vec, "loop_steps_per_s": work / t_loop,
        "ratio": t_loop / t_vec,
        "max_abs_difference_loop_vs_vectorized": float(np.max(np.abs(loop_final - final[:loop_runs]))),
    }
    if not args.skip_map:
        noise_escape = figures.load("noise_escape")
        grid = noise_escape.map_grid(quick=False)
        emap = noise_escape.escape_map(grid["sigmas"], grid["lrs"], grid["seeds"], grid["steps"])
        result.update(escape_map_seconds=emap["seconds"], escape_map_runs=emap["runs"],
                      escape_map_steps=grid["steps"])
    else:
        result["escape_map_seconds"] = None

    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"Adam + Gaussian noise on the 2-D double well: {args.runs:,} runs x {args.steps:,} steps")
        print(f"  vectorized (one simulate.run): {t_vec:8.2f} s  {result['vectorized_steps_per_s']:14,.0f} run-steps/s")
        print(f"  textbook loop ({loop_runs} runs timed, scaled): {t_loop:8.1f} s  "
              f"{result['loop_steps_per_s']:14,.0f} run-steps/s")
        print(f"  ratio: {result['ratio']:.0f}x   (loop and vectorized final points differ by at most "
              f"{result['max_abs_difference_loop_vs_vectorized']:.1e})")
        if result["escape_map_seconds"] is not None:
            print(f"  escape map (figure 03): {result['escape_map_runs']:,} runs x "
                  f"{result['escape_map_steps']} steps in {result['escape_map_seconds']:.2f} s")
    return result


if __name__ == "__main__":
    main()
