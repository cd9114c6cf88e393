r"""The edge of stability, reproduced with hand-written gradients (``gdsim reproduce eos``).

Cohen et al. (ICLR 2021): under full-batch gradient descent at step size eta the sharpness
``lambda_max`` of the training loss's Hessian rises ("progressive sharpening") until it reaches
``2/eta``, the stability limit of GD on a quadratic, and then hovers there while the loss keeps
falling, non-monotonically. For Adam (Cohen et al. 2022) the *preconditioned* sharpness
``lambda_max(P^-1 H)`` settles near ``(2 + 2 b1)/((1 - b1) eta)`` = 38/eta at b1 = 0.9.

The setting (:data:`SETTING`), as in the issue:

* data: 20 equispaced points of the Chebyshev polynomial ``T_6`` on [-1, 1];
* network: 1-30-20-1, tanh hidden layers, linear output, float64; kernels LeCun normal
  (truncated normal, std ``1/sqrt(fan_in)``, the fan-in scaling of Cohen et al.'s PyTorch
  default init), biases zero; weights drawn from model seed 0;
* loss: the HALF mean squared error ``L = (1/2n) sum (f - y)^2`` (Keras's MSE has no 1/2: its
  Hessian is twice this one, so every run would be a run at twice the step size);
* full-batch training for 4,000 steps; the sharpness every 20 steps by Lanczos (20 steps,
  central-difference Hessian-vector products of the public gradient).

Runs: ``gd`` (eta = 0.2), ``control`` (eta = 0.049), ``adam`` (Keras Adam, eta = 0.01,
preconditioned sharpness), and in the full mode ``momentum`` (Keras SGD, heavy ball b = 0.9,
eta = 0.1, against ``(2 + 2b)/eta``) and ``seed_cnn`` (the validation-spike question's CNN,
Adam 1e-4, a shortened training on gdsim's genuine/fake images, preconditioned sharpness
against 38/eta). ``quick=True`` runs the three runs the issue sets bands for, unchanged.

The seed CNN's ReLUs and max-pools make its loss piecewise smooth: a central difference
across a kink sees a jump, so its measured sharpness depends on the step (measured after 3
epochs: 0.145x of 38/eta at step 1e-6, 0.132x at 1e-5, 0.025x at 1e-4). The default 1e-5 is
used; the conclusion (far below 38/eta) holds for every step.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable

import numpy as np
from numpy.polynomial import chebyshev

from gdsim import _validate, curvature, optim
from gdsim.studies.cnn.data import real_fake_images
from gdsim.studies.cnn.model import seed_cnn
from gdsim.nn.callbacks import Callback
from gdsim.nn.layers import Dense
from gdsim.nn.model import Sequential

__all__ = ["SETTING", "CNN_SETTING", "EosRun", "chebyshev_data", "build_mlp", "train_mlp",
           "train_seed_cnn", "summarize", "run_all", "format_table", "to_stderr"]

SETTING: dict[str, Any] = {"points": 20, "degree": 6, "hidden": (30, 20), "activation": "tanh",
                           "kernel_initializer": "lecun_normal", "model_seed": 0, "steps": 4000,
                           "every": 20, "lanczos_iterations": 20, "lanczos_seed": 0}
#: The seed CNN's shortened run: the seed's optimizer, batch and lr; 16x16 images, fewer of
#: them, a few epochs; sharpness once an epoch on a fixed batch of training images.
CNN_SETTING: dict[str, Any] = {"n": 1200, "size": 16, "epochs": 8, "batch_size": 32, "lr": 1e-4,
                               "measure_batch": 256, "model_seed": 0, "data_seed": 0,
                               "lanczos_iterations": 20}
RUNS: dict[str, tuple[str, float, dict[str, float]]] = {
    "gd": ("sgd", 0.2, {}),
    "control": ("sgd", 0.049, {}),
    "adam": ("adam", 0.01, {}),
    "momentum": ("sgd", 0.1, {"momentum": 0.9}),
}


@dataclasses.dataclass
class EosRun:
    """One run: ``sharpness[k]`` measured after ``steps[k]`` updates; ``loss[s]`` the full-batch
    loss after ``s`` updates (``s = 0 .. len(loss) - 1``); ``threshold`` the optimizer's
    stability threshold for the measured (preconditioned, for Adam) sharpness."""

    name: str
    optimizer: str
    lr: float
    threshold: float
    steps: list[int]
    sharpness: list[float]
    loss: list[float]
    preconditioned: bool
    seconds: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["summary"] = summarize(self)
        out["sharpness"] = [None if not np.isfinite(v) else v for v in self.sharpness]
        return out


#: The highest Chebyshev degree :func:`chebyshev_data` makes.
MAX_DEGREE = 10_000


def chebyshev_data(points: int = 20, degree: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``x (points, 1)`` equispaced in [-1, 1] and ``y = T_degree(x)`` of shape ``(points, 1)``."""
    points = _validate.integer("points", points, minimum=1)
    _validate.memory("points", 32 * points, f"{_validate.count(points)} points")
    # Clenshaw's recurrence costs points x degree: a degree past this is no teaching example
    degree = _validate.integer("degree", degree, minimum=0, maximum=MAX_DEGREE)
    x = np.linspace(-1.0, 1.0, points)
    y = chebyshev.chebval(x, [0.0] * degree + [1.0])
    return x[:, None], y[:, None]


def build_mlp(optimizer: optim.Optimizer, setting: dict[str, Any] = SETTING) -> Sequential:
    """The 1-30-20-1 tanh network, float64, compiled with the half MSE."""
    init = setting["kernel_initializer"]
    hidden = [Dense(units, setting["activation"], kernel_initializer=init, **({"input_shape": (1,)} if i == 0 else {}))
              for i, units in enumerate(setting["hidden"])]
    # background=False: handing a 701-weight network's work to a second thread costs more
    # than the work (same bits either way)
    model = Sequential([*hidden, Dense(1, kernel_initializer=init)], seed=setting["model_seed"],
                       dtype="float64", background=False)
    model.build()
    model.compile(optimizer, "half_mean_squared_error")
    return model


def _optimizer(kind: str, lr: float, extra: dict[str, float]) -> optim.Optimizer:
    return optim.Adam(lr, **extra) if kind == "adam" else optim.SGD(lr, **extra)


def train_mlp(name: str, setting: dict[str, Any] = SETTING) -> EosRun:
    """Train one of :data:`RUNS` full-batch, recording the sharpness every ``every`` steps."""
    kind, lr, extra = RUNS[name]
    opt = _optimizer(kind, lr, extra)
    x, y = chebyshev_data(setting["points"], setting["degree"])
    model = build_mlp(opt, setting)
    adaptive = kind == "adam"
    recorder = curvature.SharpnessCallback(x, y, every=setting["every"], preconditioned=adaptive,
                                           seed=setting["lanczos_seed"],
                                           iterations=setting["lanczos_iterations"])
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=len(x), epochs=setting["steps"], verbose=0, shuffle=False,
                        callbacks=[recorder])
    loss = history.history["loss"] + [float(model.evaluate(x, y, batch_size=len(x)))]
    return EosRun(name=name, optimizer=type(opt).__name__ + (f"(momentum={extra['momentum']})" if extra else ""),
                  lr=lr, threshold=curvature.stability_threshold(opt), steps=recorder.steps,
                  sharpness=recorder.values, loss=loss, preconditioned=adaptive,
                  seconds=time.perf_counter() - start)


def train_seed_cnn(setting: dict[str, Any] = CNN_SETTING, progress: Callable[[str], None] | None = None
                   ) -> EosRun:
    """The seed CNN with the seed's Adam(1e-4), batch 32, shortened; float64 so that the
    central differences are accurate. Its preconditioned sharpness is measured at the start of
    every epoch (and at the end) on a fixed batch of training images, with BatchNormalization
    on batch statistics and dropout off: the loss the optimizer is descending, made
    deterministic. ``loss`` is the per-epoch training loss as ``fit`` reports it."""
    x, y = real_fake_images(n=setting["n"], size=setting["size"], channels=3,
                            seed=setting["data_seed"], dtype="float64")
    model = seed_cnn(setting["size"], setting["size"], 3, 2, seed=setting["model_seed"], dtype="float64")
    opt = optim.Adam(setting["lr"])
    model.compile(opt, "categorical_crossentropy")
    xm, ym = x[:setting["measure_batch"]], y[:setting["measure_batch"]]
    recorder = curvature.SharpnessCallback(xm, ym, every=1, preconditioned=True,
                                           iterations=setting["lanczos_iterations"],
                                           batch_statistics=True)

    class _Progress(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if progress is not None:
                progress(f"seed_cnn: epoch {epoch + 1}/{setting['epochs']} loss {logs['loss']:.4f}")

    start = time.perf_counter()
    history = model.fit(x, y, batch_size=setting["batch_size"], epochs=setting["epochs"], verbose=0,
                        shuffle=True, seed=setting["data_seed"], callbacks=[recorder, _Progress()])
    per_epoch = -(-len(x) // setting["batch_size"])
    return EosRun(name="seed_cnn", optimizer="Adam", lr=setting["lr"],
                  threshold=curvature.stability_threshold(opt),
                  steps=[epoch * per_epoch for epoch in recorder.steps], sharpness=recorder.values,
                  loss=history.history["loss"], preconditioned=True,
                  seconds=time.perf_counter() - start,
                  extra={"steps_per_epoch": per_epoch, "loss_is": "per-epoch fit loss"})


def summarize(run: EosRun) -> dict[str, Any]:
    """The quantities the issue's bands are stated in, as ratios to the threshold.

    ``first_095``: first measured step with sharpness >= 0.95 x threshold (None if never);
    ``second_half_mean`` / ``second_half_max``: over measurements at steps >= half the run;
    ``max``: over the whole run; ``rising_fraction``: share of steps whose loss is above the
    previous step's; ``loss_falls``: final loss below the first; ``monotone``: no step raises it.
    """
    ratio = np.asarray(run.sharpness, dtype=np.float64) / run.threshold
    steps = np.asarray(run.steps)
    total = steps[-1] if steps.size else 0
    late = (steps >= total / 2) & np.isfinite(ratio)
    reached = np.flatnonzero(ratio >= 0.95)
    loss = np.asarray(run.loss)
    rises = np.diff(loss) > 0
    return {"first_095": int(steps[reached[0]]) if reached.size else None,
            "second_half_mean": float(np.mean(ratio[late])) if late.any() else None,
            "second_half_max": float(np.max(ratio[late])) if late.any() else None,
            "max": float(np.nanmax(ratio)) if np.isfinite(ratio).any() else None,
            "rising_fraction": float(np.mean(rises)) if rises.size else 0.0,
            "loss_falls": bool(loss[-1] < loss[0]), "monotone": bool(not rises.any())}


def run_all(quick: bool = False, progress: Callable[[str], None] | None = None) -> list[EosRun]:
    """gd, control and adam (``quick``), plus momentum and the seed CNN otherwise."""
    names = ["gd", "control", "adam"] + ([] if quick else ["momentum"])
    runs = []
    for name in names:
        run = train_mlp(name)
        runs.append(run)
        if progress is not None:
            s = summarize(run)
            progress(f"{name}: {run.optimizer} lr={run.lr} threshold={run.threshold:.4g} "
                     f"second-half mean {s['second_half_mean']:.3f}x, max {s['max']:.3f}x "
                     f"({run.seconds:.1f} s)")
    if not quick:
        cnn = train_seed_cnn(progress=progress)
        runs.append(cnn)
        if progress is not None:
            s = summarize(cnn)
            progress(f"seed_cnn: preconditioned sharpness max {s['max']:.3g}x of 38/eta")
    return runs


def format_table(runs: list[EosRun]) -> str:
    """One line per run: the threshold and the sharpness as multiples of it."""
    lines = ["Edge of stability (half MSE, tanh 1-30-20-1 on T_6; seed CNN: cross-entropy)",
             f"{'run':<10}{'optimizer':<22}{'lr':>8}{'threshold':>11}{'first>=.95':>11}"
             f"{'2nd-half mean':>14}{'2nd-half max':>13}{'loss rises':>11}"]
    for run in runs:
        s = summarize(run)
        first = "-" if s["first_095"] is None else str(s["first_095"])
        lines.append(f"{run.name:<10}{run.optimizer:<22}{run.lr:>8g}{run.threshold:>11.4g}{first:>11}"
                     f"{s['second_half_mean']:>13.3f}x{s['second_half_max']:>12.3f}x"
                     f"{100 * s['rising_fraction']:>10.1f}%")
    lines.append("threshold: 2/eta (GD), (2+2b)/eta (heavy ball), 38/eta (Adam, preconditioned sharpness)")
    return "\n".join(lines)


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
