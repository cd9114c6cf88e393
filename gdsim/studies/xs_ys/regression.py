"""The xs/ys question: one ``Dense(1)`` unit fitted to ``ys = xs / 2`` by ``model.fit``.

The seed program (Keras, float32)::

    model = keras.Sequential([keras.layers.Dense(units=1, input_shape=[1])])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.fit(xs, ys, epochs=500)            # xs = 1..20, ys = xs / 2

Here the same model is built from gdsim layers with a chosen initial kernel and bias (Keras
drew the seed's kernel at random from glorot_uniform, i.e. U(-sqrt(3), sqrt(3)) for one input
and one output; the bias starts at 0), and the seed's unknown kernel is recovered from the
numbers it printed (``infer_kernels``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from gdsim import _io, _validate, optim
from gdsim.nn.layers import Dense
from gdsim.nn.model import Sequential
from gdsim.studies.xs_ys.data import seed_regression

#: glorot_uniform's limit for a Dense layer with one input and one output: sqrt(6 / (1 + 1)).
GLOROT_LIMIT_1X1 = math.sqrt(3.0)

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")


@dataclasses.dataclass(frozen=True)
class RegressionRun:
    """What one run printed and ended with. Epochs are 1-based, as Keras prints them."""

    loss: list[float]
    kernel: float
    bias: float
    prediction: float | None
    first_inf_epoch: int | None
    first_nan_epoch: int | None

    def to_json(self) -> dict:
        return {"loss": [json_number(v) for v in self.loss], "kernel": json_number(self.kernel),
                "bias": json_number(self.bias),
                "predict": None if self.prediction is None else json_number(self.prediction),
                "first_inf_epoch": self.first_inf_epoch, "first_nan_epoch": self.first_nan_epoch}


def json_number(value: float) -> float | None:
    """Strict JSON has no inf/NaN: they become ``None`` (``null``); see ``gdsim._io.json_value``."""
    return _io.json_value(float(value))


def build_model(kernel: float, bias: float = 0.0, optimizer: str | optim.Optimizer = "sgd",
                dtype: str = "float32") -> Sequential:
    """``Dense(1)`` on one input, compiled with MSE, with the given initial kernel and bias."""
    dtype = _validate.float_dtype("dtype", dtype)
    kernel = _validate.finite_in("init_kernel", kernel, dtype)  # 1e39 is no float32
    bias = _validate.finite_in("init_bias", bias, dtype)
    model = Sequential([Dense(1, input_shape=(1,))], dtype=dtype)
    model.compile(optimizer=optimizer, loss="mean_squared_error")
    model.build()
    model.set_weights([np.array([[kernel]]), np.array([bias])])
    return model


def run(n: int = 20, optimizer: str | optim.Optimizer = "sgd", kernel: float = 0.0,
        bias: float = 0.0, epochs: int = 500, batch_size: int = 32, shuffle: bool | str = True,
        seed: int = 0, dtype: str = "float32", predict_at: float | None = 25.0,
        verbose: int = 0) -> RegressionRun:
    """Fit ``Dense(1)`` to xs = 1..n, ys = xs/2 from the given init and report what Keras would."""
    n = _validate.integer("n", n, minimum=1)
    if predict_at is not None:  # checked before 500 epochs are spent, not after
        predict_at = _validate.finite_in("predict", predict_at, _validate.float_dtype("dtype", dtype))
    xs, ys = seed_regression(n, dtype=dtype)
    model = build_model(kernel, bias, optimizer, dtype)
    history = model.fit(xs, ys, epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed,
                        verbose=verbose)
    prediction = None
    if predict_at is not None:
        prediction = float(model.predict(np.array([predict_at]))[0, 0])
    (w,), b = model.get_weights()
    return RegressionRun(loss=history.history.get("loss", []), kernel=float(w[0]), bias=float(b[0]),
                         prediction=prediction, first_inf_epoch=history.first_inf_epoch,
                         first_nan_epoch=history.first_nan_epoch)


def kernels_from_first_loss(first_loss: float, n: int = 20) -> list[float]:
    """Initial kernels consistent with the first printed loss (bias starts at 0).

    With one batch per epoch, epoch 1 reports the loss at the initial weights::

        loss_1 = mean((w0*x - x/2)^2) = (w0 - 1/2)^2 * mean(x^2)
        =>  w0 = 1/2 +- sqrt(loss_1 / mean(x^2))

    Only roots inside Keras's glorot range [-sqrt(3), sqrt(3)] are returned.
    """
    xs, _ = seed_regression(n, dtype="float64")
    offset = math.sqrt(_validate.nonnegative("first_loss", first_loss) / float(np.mean(xs**2)))
    roots = [0.5 - offset, 0.5 + offset]
    return [w for w in roots if abs(w) <= GLOROT_LIMIT_1X1]


def infer_kernels(quantity: Callable[[np.ndarray], np.ndarray], target: float,
                  low: float = -GLOROT_LIMIT_1X1, high: float = GLOROT_LIMIT_1X1,
                  grid: int = 161, iterations: int = 40) -> list[float]:
    """All initial kernels in [low, high] where ``quantity(kernel) == target``: a 1-D search.

    ``quantity`` maps an array of kernels to the printed quantity each would produce (one
    gdsim run per kernel). The grid brackets every sign change of ``quantity - target``;
    bisection then narrows each bracket to float precision. Kernels where the quantity is not
    finite are treated as "no crossing".
    """
    kernels = np.linspace(low, high, grid)
    residual = quantity(kernels) - target
    roots = []
    for i in range(grid - 1):
        a, b, fa, fb = kernels[i], kernels[i + 1], residual[i], residual[i + 1]
        if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0:
            continue
        for _ in range(iterations):
            mid = 0.5 * (a + b)
            fm = float(quantity(np.array([mid]))[0]) - target
            if not np.isfinite(fm):
                break
            if fa * fm <= 0:
                b, fb = mid, fm
            else:
                a, fa = mid, fm
        roots.append(0.5 * (a + b))
    return roots


def predicted_first_inf_epoch(first_loss: float, loss_ratio: float, batch_size: int,
                              dtype: str = "float32") -> int | None:
    """When will the reported epoch loss overflow, if it grows by ``loss_ratio`` per epoch?

    Keras's loss tracker accumulates ``batch_size * loss`` in the model's dtype, so the
    reported loss becomes inf once ``loss_k * batch_size > finfo.max``, with
    ``loss_k ~ first_loss * loss_ratio^(k-1)``::

        k_inf = 1 + ceil( log(finfo.max / (batch_size * first_loss)) / log(loss_ratio) )

    Returns None when the loss does not grow (``loss_ratio <= 1``).
    """
    first_loss = _validate.positive("first_loss", first_loss)
    loss_ratio = _validate.positive("loss_ratio", loss_ratio)
    batch_size = _validate.integer("batch_size", batch_size, minimum=1)
    if loss_ratio <= 1:
        return None
    limit = float(np.finfo(_validate.float_dtype("dtype", dtype)).max)
    # in logs: batch_size * first_loss may itself overflow a float
    headroom = math.log(limit) - math.log(batch_size) - math.log(first_loss)
    return 1 + math.ceil(headroom / math.log(loss_ratio))


def final_quantity(n: int, optimizer_name: str, which: str, epochs: int = 500,
                   dtype: str = "float32") -> Callable[[np.ndarray], np.ndarray]:
    """A function: array of initial kernels -> each run's final printed quantity.

    ``which="loss"``: the loss Keras prints for the last epoch (the loss after ``epochs - 1``
    updates, full batch); ``which="predict"``: ``predict([25.0])`` after ``epochs`` updates.
    All kernels are simulated in one vectorized ``simulate.run`` (full-batch gradient descent
    on the same least-squares problem in the same dtype), which is what makes a 1-D search over
    hundreds of inits cheap; the chosen inits are then confirmed by ``run``.
    """
    from gdsim import simulate
    from gdsim.problems import LinearRegression

    which = _validate.choice("which", which, ["loss", "predict"])
    epochs = _validate.integer("epochs", epochs, minimum=1)
    n = _validate.integer("n", n, minimum=1)
    _validate.memory("n", 64 * n, f"a regression on {_validate.count(n)} samples")
    problem = LinearRegression.seed(n)
    optim.get(optimizer_name)  # checked now, not at the first call of the function returned
    dtype = _validate.float_dtype("dtype", dtype)

    def quantity(kernels: np.ndarray) -> np.ndarray:
        kernels = np.atleast_1d(np.asarray(kernels, dtype=float))
        x0 = np.stack([kernels, np.zeros_like(kernels)], axis=-1)
        steps = epochs - 1 if which == "loss" else epochs
        trajectory = simulate.run(problem, optim.get(optimizer_name), x0, steps=steps,
                                  dtype=dtype, record="final")
        if which == "loss":
            return trajectory.final_loss.astype(float)
        params = trajectory.final_params.astype(float)
        return 25.0 * params[:, 0] + params[:, 1]

    return quantity
