"""Why the seed's loss explodes: SGD lr=0.01 on xs=1..20 multiplies the loss by (1 - lr*lambda_max)^2 = 3.55 every epoch.
======================================================================================================================

The seed question fits ``Dense(1)`` to ys = xs/2 (xs = 1..20) with Keras's default SGD
(lr = 0.01). All 20 points fit in one batch of 32, so every epoch is one full-batch gradient
step on the quadratic loss, whose Hessian ``2*[[mean x^2, mean x], [mean x, 1]]`` has
``lambda_max = 288.5``. Gradient descent converges only if ``lr < 2/lambda_max = 0.00693``;
at lr = 0.01 the error along the steep direction is multiplied by ``1 - lr*lambda_max = -1.885``
each step, so the loss grows by ``1.885^2 = 3.55`` per epoch:

    loss_k = loss_1 * (1 - lr*lambda_max)^(2(k-1))

until float32 overflows to inf (epoch 64) and inf - inf gives NaN (epoch 134).
The right panel shows the two answers of the thread: lr = 1e-4, and Adam.

Run:  python -m gdsim.gallery.01_divergence [--quick] [--out DIR]  (or: gdsim figures --only divergence)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

import warnings
from pathlib import Path

import numpy as np

from gdsim import figures, optim, plots, problems, simulate
from gdsim.studies.xs_ys import regression, stability
from gdsim.studies.xs_ys.reproduce import SEED_ADAM_PREDICTION, SEED_SGD_LOSSES, SEED_SMALL_LR_LOSSES

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "01_divergence"
LR = 0.01
EPOCHS = 500


def infer_adam_kernel(n_grid: int) -> float:
    """The seed's Adam run printed only predict([25.0]) = 12.487587. Run Adam (float32, 500
    full-batch steps, bias 0) from n_grid initial kernels at once and keep the one whose
    prediction crosses the printed value."""
    problem = problems.LinearRegression.seed(20)
    kernels = np.linspace(-np.sqrt(3), np.sqrt(3), n_grid)  # glorot_uniform's range for Dense(1)
    x0 = np.stack([kernels, np.zeros_like(kernels)], axis=-1)
    final = simulate.run(problem, optim.Adam(0.001), x0, EPOCHS, dtype="float32",
                         record="final").final_params
    gap = final[:, 0] * 25.0 + final[:, 1] - SEED_ADAM_PREDICTION
    i = int(np.nonzero(np.sign(gap[:-1]) != np.sign(gap[1:]))[0][0])
    return float(kernels[i] - gap[i] * (kernels[i + 1] - kernels[i]) / (gap[i + 1] - gap[i]))


def compute(quick: bool = False) -> dict:
    # --- set-up: the seed's data and the curvature that decides everything
    xs = np.arange(1.0, 21.0)
    curvature = stability.regression_stability(xs, LR)
    lam_max = curvature["lambda_max"]
    # The seed's unknown random init, recovered from its first printed loss (bias starts at 0):
    # loss_1 = (w0 - 1/2)^2 * mean(x^2).
    kernel_sgd = regression.kernels_from_first_loss(SEED_SGD_LOSSES[0])[0]
    kernel_small = regression.kernels_from_first_loss(SEED_SMALL_LR_LOSSES[1])[0]
    kernel_adam = infer_adam_kernel(801 if quick else 4001)

    # --- run: Keras's fit semantics (float32, one batch per epoch, pre-update batch loss)
    sgd = regression.run(20, optim.SGD(LR), kernel=kernel_sgd, epochs=EPOCHS, predict_at=None)
    small = regression.run(20, optim.SGD(1e-4), kernel=kernel_small, epochs=EPOCHS)
    adam = regression.run(20, optim.Adam(0.001), kernel=kernel_adam, epochs=EPOCHS)
    adam_same_start = regression.run(20, optim.Adam(0.001), kernel=kernel_sgd, epochs=EPOCHS)

    epochs = np.arange(1, EPOCHS + 1)
    predicted = sgd.loss[0] * (1 - LR * lam_max) ** (2.0 * (epochs - 1))
    return {
        "epochs": epochs, "lambda_max": lam_max, "critical_lr": curvature["critical_lr"],
        "loss_ratio": curvature["loss_ratio"], "kernel_sgd": kernel_sgd,
        "kernel_small": kernel_small, "kernel_adam": kernel_adam,
        "sgd_loss": np.array(sgd.loss), "predicted": predicted,
        "first_inf_epoch": sgd.first_inf_epoch, "first_nan_epoch": sgd.first_nan_epoch,
        "small_loss": np.array(small.loss), "adam_loss": np.array(adam.loss),
        "adam_prediction": adam.prediction, "adam_same_start_loss": np.array(adam_same_start.loss),
        "seed_losses": np.array(SEED_SGD_LOSSES),
    }


def plot(d: dict):
    c = plots.COLORS
    with plots.style():
        fig, (left, right) = plots.new_figure(1, 2)
        # Left: the divergence, measured vs predicted.
        shown = d["epochs"] <= d["first_nan_epoch"] + 15
        finite = np.isfinite(d["sgd_loss"]) & shown
        left.semilogy(d["epochs"][finite], d["sgd_loss"][finite], color=c["vermillion"],
                      label="SGD lr=0.01 (gdsim = Keras)")
        fits = d["predicted"] < np.finfo(np.float32).max
        left.semilogy(d["epochs"][fits], d["predicted"][fits], color=c["black"], ls=":", lw=3,
                      label=rf"theory: $L_1\,(1-\eta\lambda_{{max}})^{{2(k-1)}}$")
        left.semilogy(np.arange(1, 21), d["seed_losses"], "o", mfc="none", mec=c["blue"], mew=1.8,
                      ms=8, label="printed in the seed question")
        # Past float32's max the printed loss is inf, and once inf - inf appears, NaN: no point
        # can be drawn on a log axis there, so the epochs are shaded instead.
        end = d["first_nan_epoch"] + 30
        left.axvspan(d["first_inf_epoch"], d["first_nan_epoch"], color=c["orange"], alpha=0.18, lw=0)
        left.axvspan(d["first_nan_epoch"], end, color=c["purple"], alpha=0.18, lw=0)
        left.text((d["first_inf_epoch"] + d["first_nan_epoch"]) / 2, 1e20,
                  f"loss = inf\nfrom epoch\n{d['first_inf_epoch']}", ha="center", fontsize=14)
        left.text((d["first_nan_epoch"] + end) / 2, 1e20, f"NaN\nfrom\n{d['first_nan_epoch']}",
                  ha="center", fontsize=14)
        left.set_xlim(0, end)
        plots.labels(left, "epoch", "loss (MSE)",
                     f"lr=0.01 > 2/λmax={d['critical_lr']:.4f}:\nloss ×{d['loss_ratio']:.2f} per epoch")
        left.legend(loc="lower right", frameon=True, facecolor="white", framealpha=0.95,
                    edgecolor="none")

        # Right: the two fixes from the thread's answers.
        e = d["epochs"]
        right.semilogy(e, d["small_loss"], color=c["blue"],
                       label=f"SGD lr=1e-4 (answer 1), init w={d['kernel_small']:.3f}")
        right.semilogy(e, d["adam_loss"], color=c["green"],
                       label=f"Adam (answer 2), init w={d['kernel_adam']:.3f}")
        right.semilogy(e, d["adam_same_start_loss"], color=c["green"], ls="--",
                       label=f"Adam, init w={d['kernel_sgd']:.3f} (as left)")
        right.set_ylim(3e-6, 3e4)
        plots.labels(right, "epoch", "loss (MSE)", "the thread's fixes:\nlr=1e-4, or Adam")
        right.legend(loc="upper right")
        for ax in (left, right):
            ax.grid(True, which="major", axis="y", alpha=0.25)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    with warnings.catch_warnings():  # the divergence is the point, not a problem
        warnings.simplefilter("ignore")
        data = compute(quick)
    return plots.save(plot(data), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
