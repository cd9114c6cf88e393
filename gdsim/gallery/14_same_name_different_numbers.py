"""Same name, different numbers: Keras's and PyTorch's momentum, Adam and RMSprop part ways under a step decay, a large epsilon, and small gradients.
==================================================================================================================================================

Both frameworks call these algorithms by the same names, and d2l.ai (PyTorch's forms) and the
Keras documentation (Keras's forms) teach them side by side, but the formulas differ in details
that change the numbers (gdsim runs both: ``gdsim.optim`` and ``gdsim.optim.torch_form``):

* **Momentum under a step decay** (left). Keras keeps a velocity of past *steps*,
  ``v <- m*v - lr_t*g; x <- x + v``; PyTorch (and d2l) keeps a buffer of past *gradients*,
  ``b <- m*b + g; x <- x - lr_t*b``. For a constant lr these are the same iterates
  (``v = -lr*b``); when the rate drops, PyTorch's whole buffer is multiplied by the new rate at
  once, while Keras's velocity still carries the old one and coasts on.
* **Adam with a large epsilon** (middle). Keras adds epsilon to ``sqrt(v)``, PyTorch to
  ``sqrt(v / (1 - beta2^t))``: at eps = 0.1 Keras's effective epsilon is 1/sqrt(1 - beta2^t)
  times larger (about 30x on the first step), so Keras takes smaller steps.
* **RMSprop's epsilon inside vs outside the square root** (right). Keras divides by
  ``sqrt(v + eps)`` (never below ``sqrt(eps)``), PyTorch by ``sqrt(v) + eps`` (never below eps):
  once the gradients are small (a shallow bowl), Keras's steps shrink with them and PyTorch's
  stay normalised.

The problem is d2l's ill-conditioned bowl ``f(x) = 0.1 x1^2 + 2 x2^2`` from ``(-5, -2)``
(scaled by 1/100 on the right). Where an exact translation exists, ``gdsim.optim.equivalent``
gives it; none exists for these three.

Run:  python -m gdsim.gallery.14_same_name_different_numbers [--quick] [--out DIR]  (or: gdsim figures --only same_name_different_numbers)
"""

from __future__ import annotations

from gdsim import numerics

numerics.pin_for()  # run as a script: the portable profile, chosen before NumPy loads

from pathlib import Path

import numpy as np

from gdsim import figures, optim, plots, surfaces
from gdsim.optim import torch_form
from gdsim.optim.torch_form import lr_scheduler

OUT_DIR = figures.default_out_dir()  # the repository's figures/ in a checkout, else ./gdsim-figures
STEM = "14_same_name_different_numbers"
X0 = np.array([-5.0, -2.0])
MOMENTUM, DECAY = 0.5, lr_scheduler.StepLR(0.4, step_size=5, gamma=0.1)   # lr 0.4, then 0.04 at step 5
ADAM_LR, ADAM_EPS = 0.1, 0.1
RMS_LR, RMS_RHO, RMS_EPS, SHALLOW = 0.05, 0.9, 1e-4, 1e-2
TITLE_SIZE = 16  # three panels side by side: the house 18 pt would run into each other


def run(opt: optim.Optimizer, surface, steps: int) -> np.ndarray:
    """The iterates ``(steps + 1, 2)`` of ``opt`` on ``surface`` from ``X0``."""
    x, state = X0.copy(), opt.init(X0)
    path = [x]
    for _ in range(steps):
        x, state = opt.step(x, surface.grad(x), state)
        path.append(x)
    return np.array(path)


def compute(quick: bool = False) -> dict:
    # --- set-up: d2l's bowl, and a shallow copy of it (gradients 100x smaller)
    bowl = surfaces.get("quadratic", eigenvalues=[0.2, 4.0])
    shallow = surfaces.get("quadratic", eigenvalues=[0.2 * SHALLOW, 4.0 * SHALLOW])
    steps = 100  # milliseconds: quick mode is the full figure

    # --- run: the same name and hyper-parameters, Keras's form and PyTorch's form
    momentum = {"keras": run(optim.SGD(DECAY, momentum=MOMENTUM), bowl, 20),
                "torch": run(torch_form.SGD(DECAY, momentum=MOMENTUM), bowl, 20),
                "keras_constant": run(optim.SGD(0.4, momentum=MOMENTUM), bowl, 20),
                "torch_constant": run(torch_form.SGD(0.4, momentum=MOMENTUM), bowl, 20)}
    adam = {"keras": run(optim.Adam(ADAM_LR, epsilon=ADAM_EPS), bowl, steps),
            "torch": run(torch_form.Adam(ADAM_LR, eps=ADAM_EPS), bowl, steps),
            "keras_tiny_eps": run(optim.Adam(ADAM_LR, epsilon=1e-8), bowl, steps),
            "torch_tiny_eps": run(torch_form.Adam(ADAM_LR, eps=1e-8), bowl, steps)}
    rmsprop = {"keras": run(optim.RMSprop(RMS_LR, rho=RMS_RHO, epsilon=RMS_EPS), shallow, steps),
               "torch": run(torch_form.RMSprop(RMS_LR, alpha=RMS_RHO, eps=RMS_EPS), shallow, steps)}

    def losses(paths, surface):
        return {k: np.asarray(surface.value(p)) for k, p in paths.items()}

    return {"bowl": bowl, "steps": steps, "momentum": momentum, "adam_loss": losses(adam, bowl),
            "rmsprop_loss": losses(rmsprop, shallow),
            "momentum_gap": float(np.max(np.abs(momentum["keras"] - momentum["torch"]))),
            "momentum_constant_gap": float(np.max(np.abs(momentum["keras_constant"] - momentum["torch_constant"]))),
            "decay_step": DECAY.step_size}


def plot(d: dict):
    c = plots.COLORS
    keras, torch = {"color": c["blue"], "ls": "-"}, {"color": c["vermillion"], "ls": "--"}
    with plots.style():
        fig, (left, middle, right) = plots.new_figure(1, 3)
        fig.suptitle("Same name, different numbers: Keras (solid) vs PyTorch (dashed)")

        # Left: momentum paths on the bowl, same StepLR schedule.
        plots.loss_contours(left, d["bowl"], (-5.5, -2.6), (1.5, 2.6), n_levels=12, resolution=200)
        plots.trajectory(left, d["momentum"]["keras"], "Keras: v ← mv − lr·g", color=keras["color"])
        plots.trajectory(left, d["momentum"]["torch"], "PyTorch: b ← mb + g", color=torch["color"],
                         linestyle="--")
        left.plot(*X0, marker="s", ms=10, color="white", mec="black", zorder=7)
        plots.labels(left, "x₁", "x₂")
        left.set_title(f"Momentum, lr 0.4 → 0.04\nat step {d['decay_step']}: {d['momentum_gap']:.2f} apart",
                       loc="left", fontsize=TITLE_SIZE)
        left.legend(loc="upper center", fontsize=12, frameon=True, framealpha=0.9, edgecolor="none")

        # Middle: Adam's loss with eps = 0.1 (and 1e-8, where the forms coincide).
        s = np.arange(d["steps"] + 1)
        a = d["adam_loss"]
        middle.semilogy(s, a["keras"], **keras, label="Keras ε=0.1 on √v")
        middle.semilogy(s, a["torch"], **torch, label="PyTorch eps=0.1 on √v̂")
        middle.semilogy(s, a["keras_tiny_eps"], color=c["grey"], lw=5, alpha=0.5, label="both, ε=1e-8")
        plots.labels(middle, "step", "loss f(x)")
        middle.set_title(f"Adam ε={ADAM_EPS:g}: loss\n{a['keras'][-1]:.2g} vs {a['torch'][-1]:.2g}",
                         loc="left", fontsize=TITLE_SIZE)
        middle.legend(loc="lower left", fontsize=12)

        # Right: RMSprop's epsilon inside vs outside the square root, small gradients.
        r = d["rmsprop_loss"]
        right.semilogy(s, r["keras"], **keras, label="Keras: g/√(v + ε)")
        right.semilogy(s, r["torch"], **torch, label="PyTorch: g/(√v + ε)")
        plots.labels(right, "step", "loss f(x)  (bowl / 100)")
        right.set_title(f"RMSprop ε=1e-4: loss\n{r['keras'][-1]:.2g} vs {r['torch'][-1]:.2g}",
                        loc="left", fontsize=TITLE_SIZE)
        right.legend(loc="lower left", fontsize=12)
    return fig


def main(out_dir: str | Path = OUT_DIR, quick: bool = False) -> list[Path]:
    return plots.save(plot(compute(quick)), out_dir, STEM)


if __name__ == "__main__":
    figures.cli(main)
