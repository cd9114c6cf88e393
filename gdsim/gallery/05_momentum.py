"""Momentum overshoots: on f(x) = x^2/2, heavy ball with beta = 0, 0.5, 0.9, 0.99 rings inside the envelope C*rho^k.
=================================================================================================================

Keras's ``SGD(momentum=beta)`` keeps a velocity: ``v <- beta*v - lr*f'(x); x <- x + v``. On the
1-D quadratic ``f(x) = lambda x^2 / 2`` this is a linear recurrence in two numbers::

    (x_{k+1}, x_k) = M (x_k, x_{k-1}),   M = [[1 + beta - lr*lambda, -beta], [1, 0]]

so ``x_k = c_1 z_1^k + c_2 z_2^k`` where ``z_1, z_2`` are M's eigenvalues and ``c_1, c_2`` come
from the start (``x_0``, and ``x_1 = x_0 - lr*lambda*x_0`` because v starts at 0). Hence
``|x_k| <= (|c_1| + |c_2|) * rho^k`` with ``rho = max |z|``, the spectral radius: the dashed
envelope. When the eigenvalues are complex (``beta`` large), ``rho = sqrt(beta)`` and the iterate
oscillates -- it overshoots the minimum and swings back -- decaying only as fast as
``sqrt(beta)^k``: beta = 0.99 rings for hundreds of steps even though each step is small.

All four betas run in one ``simulate.run`` (the momentum hyper-parameter is an array over runs).

Run:  python -m gdsim.gallery.05_momentum [--quick] [--out DIR]  (or: gdsim figures --only momentum)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import analysis, figures, optim, plots, simulate, surfaces

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "05_momentum"
BETAS = np.array([0.0, 0.5, 0.9, 0.99])
LR = 0.3
LAMBDA = 1.0
X0 = 1.0


def envelope(lr: float, beta: float, lam: float, x0: float, steps: np.ndarray) -> tuple:
    """``(rho, C * rho^k)`` for heavy ball from ``x_0 = x0``, ``v_0 = 0``."""
    z = np.linalg.eigvals(analysis.heavy_ball_iteration_matrix(lr, beta, lam))
    x1 = x0 - lr * lam * x0
    if abs(z[0] - z[1]) < 1e-12:           # a double eigenvalue: x_k = (a + b k) z^k
        raise ValueError(f"beta={beta} is critically damped; pick another lr*lambda")
    # Solve x_0 = c1 + c2, x_1 = c1 z1 + c2 z2 for (c1, c2).
    c = np.linalg.solve(np.array([[1, 1], [z[0], z[1]]], dtype=complex), np.array([x0, x1], dtype=complex))
    rho = float(analysis.heavy_ball_spectral_radius(lr, beta, lam))
    return rho, (abs(c[0]) + abs(c[1])) * rho ** steps.astype(np.float64)


def compute(quick: bool = False) -> dict:
    # --- set-up: a 1-D bowl with curvature LAMBDA, four momenta as one runs axis
    bowl = surfaces.get("quadratic", eigenvalues=[LAMBDA])
    steps = 100 if quick else 200
    x0 = np.full((BETAS.size, 1), X0)

    # --- run
    run = simulate.run(bowl, optim.SGD(LR, momentum=BETAS), x0, steps)
    iterates = run.params[..., 0].T                     # (beta, step)

    # --- theory: spectral radius and envelope per beta
    rhos, envelopes = [], []
    for beta in BETAS:
        rho, env = envelope(LR, float(beta), LAMBDA, X0, run.steps)
        rhos.append(rho)
        envelopes.append(env)
    return {"betas": BETAS, "steps": run.steps, "iterates": iterates, "rho": np.array(rhos),
            "envelope": np.array(envelopes), "lr": LR, "lam": LAMBDA}


def plot(d: dict):
    c = plots.COLORS
    colors = [c["black"], c["blue"], c["vermillion"], c["purple"]]
    with plots.style():
        fig, axes = plots.new_figure(2, 2, sharex=True, sharey=True)
        for ax, beta, x, env, rho, color in zip(axes.flat, d["betas"], d["iterates"],
                                                d["envelope"], d["rho"], colors):
            ax.fill_between(d["steps"], -env, env, color=color, alpha=0.10, lw=0)
            ax.plot(d["steps"], env, color=color, ls="--", lw=1.5)
            ax.plot(d["steps"], -env, color=color, ls="--", lw=1.5, label=f"±C·ρᵏ, ρ = {rho:.3f}")
            ax.plot(d["steps"], x, color=color, lw=2.2, label="iterate x")
            ax.axhline(0, color=c["grey"], lw=1, zorder=0)
            overshoot = -float(np.min(x))
            ax.set_title(f"β = {beta:g}: " + ("no overshoot" if overshoot <= 0
                                               else f"overshoots to {-overshoot:.3f}"),
                         loc="left", fontsize=17)
            ax.legend(loc="upper right", fontsize=13)
        for ax in axes[1]:
            ax.set_xlabel("step")
        for ax in axes[:, 0]:
            ax.set_ylabel("iterate x")
        axes[0, 0].set_ylim(-1.15, 1.25)
        fig.suptitle(f"Momentum overshoots x = 0 and rings inside ±C·ρᵏ (f = x²/2, lr = {d['lr']:g})",
                     fontsize=17)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
