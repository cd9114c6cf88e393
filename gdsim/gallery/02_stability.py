"""Stability map of the seed regression: GD converges iff lr < 2/lambda_max, and at lr=0.01 iff n <= 16.
=====================================================================================================

Left: hundreds of learning rates, all in ONE vectorized ``simulate.run`` (the runs axis holds
the learning rates), 500 full-batch SGD steps each on xs = 1..20 from the seed's initial
weights, in float32 like Keras. The final loss falls for every lr below ``2/lambda_max`` and
explodes for every lr above it; the measured edge is compared with the Hessian's prediction.
The dashed curve is the exact theory for a quadratic loss::

    loss_T = sum_i (lambda_i / 2) e_i^2 (1 - lr*lambda_i)^(2T)

(``e_i``: the initial error along the Hessian's eigenvector ``i``).

Right: the learning rate fixed at Keras's default 0.01 and the data grown (xs = 1..n):
``lambda_max(n)`` grows like ``2n^2/3``, and 2/lambda_max(n) drops below 0.01 between n = 16
and n = 17. That is the seed's "fine with 10 points, explodes with 18 or more".

Run:  python -m gdsim.gallery.02_stability [--quick] [--out DIR]  (or: gdsim figures --only stability)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

import warnings
from pathlib import Path

import numpy as np

from gdsim import figures, optim, plots, problems, simulate
from gdsim.studies.xs_ys import regression, stability
from gdsim.studies.xs_ys.reproduce import SEED_SGD_LOSSES

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "02_stability"
EPOCHS = 500
LR_DEFAULT = 0.01


def compute(quick: bool = False) -> dict:
    # --- set-up: the seed's data, its initial weights, and the curvature
    problem = problems.LinearRegression.seed(20)
    kernel0 = regression.kernels_from_first_loss(SEED_SGD_LOSSES[0])[0]
    w0 = np.array([kernel0, 0.0])
    eigenvalues, eigenvectors = np.linalg.eigh(problem.hessian(w0))
    lam_max = float(eigenvalues[-1])
    critical = 2.0 / lam_max

    # --- run: every learning rate at once (runs axis = learning rates)
    lrs = np.geomspace(1e-4, 3e-2, 120 if quick else 600)
    x0 = np.tile(w0, (lrs.size, 1))
    trajectory = simulate.run(problem, optim.SGD(learning_rate=lrs), x0, EPOCHS,
                              dtype="float32", record="final")
    initial_loss = float(problem.value(w0))
    final_loss = trajectory.final_loss.astype(np.float64)
    converged = np.isfinite(final_loss) & (final_loss < initial_loss)

    # The measured threshold: between the largest converging lr and the smallest diverging one.
    last_ok = int(np.nonzero(converged)[0].max())
    first_bad = int(np.nonzero(~converged)[0].min())
    measured = float(np.sqrt(lrs[last_ok] * lrs[first_bad]))

    # Theory for the quadratic: each eigen-direction decays/grows by (1 - lr*lambda_i) per step.
    error = eigenvectors.T @ (w0 - problem.minimizer)
    with np.errstate(over="ignore", invalid="ignore"):  # past the edge it overflows: fine
        factors = (1.0 - lrs[:, None] * eigenvalues[None, :]) ** (2.0 * EPOCHS)
        theory = np.sum(eigenvalues / 2 * error**2 * factors, axis=-1)

    # --- run: lr fixed at 0.01, data xs = 1..n (Keras's fit semantics, float32)
    ns = np.arange(10, 21) if quick else np.arange(1, 31)
    with warnings.catch_warnings():  # the diverging runs are the point
        warnings.simplefilter("ignore")
        runs = [regression.run(int(n), optim.SGD(LR_DEFAULT), kernel=kernel0, epochs=EPOCHS,
                               predict_at=None) for n in ns]
    n_initial = np.array([r.loss[0] for r in runs])
    n_final = np.array([r.loss[-1] for r in runs], dtype=np.float64)
    n_converged = np.isfinite(n_final) & (n_final < n_initial)
    n_critical = np.array([stability.regression_stability(np.arange(1.0, n + 1), LR_DEFAULT)
                           ["critical_lr"] for n in ns])
    return {"lrs": lrs, "final_loss": final_loss, "converged": converged, "theory": theory,
            "initial_loss": initial_loss, "lambda_max": lam_max, "critical_lr": critical,
            "measured_threshold": measured, "lr_last_converged": float(lrs[last_ok]),
            "lr_first_diverged": float(lrs[first_bad]),
            "resolution": float(lrs[1] / lrs[0]),
            "ns": ns, "n_final_loss": n_final, "n_converged": n_converged,
            "n_critical_lr": n_critical,
            "max_converging_n": stability.max_converging_n(LR_DEFAULT)}


def label_top_as_diverged(ax, ticks: list[float], top: float) -> None:
    """Log ticks up to ``ticks``, then one tick at ``top`` that reads inf/NaN: diverged runs are
    drawn there, and a number on that tick would suggest a loss they never had."""
    ax.set_yticks(ticks + [top], [f"$10^{{{int(round(np.log10(t)))}}}$" for t in ticks] + ["inf/NaN"])
    ax.minorticks_off()
    ax.axhline(top / 30, color=plots.COLORS["grey"], lw=1, ls="-", alpha=0.6)


def plot(d: dict):
    c = plots.COLORS
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        # Left: final loss against learning rate. Diverged runs (inf/NaN) sit on the top edge.
        top = 1e12
        lrs, final = d["lrs"], d["final_loss"]
        ok = d["converged"]
        shown = np.where(np.isfinite(final), np.minimum(final, top), top)
        left.loglog(lrs[ok], shown[ok], "o", ms=3.5, color=c["green"],
                    label="loss fell")
        left.loglog(lrs[~ok], shown[~ok], "^", ms=4, color=c["vermillion"],
                    label="diverged (inf/NaN)")
        finite_theory = d["theory"] < top / 30   # above that the theory is "diverged" too
        left.loglog(lrs[finite_theory], d["theory"][finite_theory], color=c["black"], ls="--",
                    lw=1.8, label="theory (quadratic)")
        left.axhline(d["initial_loss"], color=c["grey"], lw=1.2, ls=":")
        left.text(lrs[0], d["initial_loss"] * 3, "initial loss", color=c["grey"], fontsize=13)
        plots.vline(left, d["critical_lr"], f"2/λmax\n={d['critical_lr']:.5f}", color=c["blue"],
                    y=0.36, ha="right")
        left.axvline(LR_DEFAULT, color=c["black"], lw=1, ls=":")
        left.text(LR_DEFAULT * 1.05, 1e5, "Keras\ndefault\n0.01", fontsize=13)
        left.set_ylim(1e-5, top * 30)
        label_top_as_diverged(left, [1e-4, 1e-2, 1e0, 1e2, 1e4, 1e6, 1e8], top)
        plots.labels(left, "learning rate", f"loss (MSE) after {EPOCHS} epochs",
                     f"{d['lrs'].size} lrs in one run: the edge\n"
                     f"is at {d['measured_threshold']:.5f} ≈ 2/λmax")
        left.legend(loc="upper left", bbox_to_anchor=(0.0, 0.85))

        # Right: final loss against n at lr = 0.01.
        ns, nf, nok = d["ns"], d["n_final_loss"], d["n_converged"]
        n_top = 1e12
        right.semilogy(ns[nok], nf[nok], "o", ms=9, color=c["green"], label="converges")
        right.semilogy(ns[~nok], np.full((~nok).sum(), n_top), "^", ms=10, color=c["vermillion"],
                       label="inf/NaN by epoch 500")
        edge = d["max_converging_n"] + 0.5
        right.axvline(edge, color=c["blue"], ls="--", lw=1.8)
        right.text(edge - 0.6, 1e3, "2/λmax(n) > 0.01:\nconverges", ha="right", fontsize=14,
                   color=c["blue"])
        right.text(edge + 0.6, 1e3, "2/λmax(n) < 0.01:\ndiverges", ha="left", fontsize=14,
                   color=c["blue"])
        right.set_ylim(1e-14, n_top * 30)
        label_top_as_diverged(right, [1e-12, 1e-9, 1e-6, 1e-3, 1e0, 1e3, 1e6], n_top)
        plots.labels(right, "n (training points xs = 1..n)", f"loss (MSE) after {EPOCHS} epochs",
                     f"lr=0.01: n ≤ {d['max_converging_n']} converges,\n"
                     f"n = {d['max_converging_n'] + 1} does not")
        right.legend(loc="lower right")
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
