"""``gdsim reproduce``: the seed question's runs, side by side with the numbers it printed.

The xs/ys question (``docs/seed_questions.md``) printed losses from a Keras run whose random initial
kernel we do not know. Its printed numbers pin it down: the first printed loss gives the
kernel in closed form (``regression.kernels_from_first_loss``); a run where only the final
number was printed is pinned by a 1-D search over gdsim runs (``regression.infer_kernels``).
Recovering an unknown init from printed numbers is itself a lesson, so the table shows it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from gdsim import optim
from gdsim.nn.model import DivergenceWarning
from gdsim.studies.xs_ys import regression, stability
from gdsim.studies.xs_ys.data import seed_regression
from gdsim.studies.xs_ys.regression import json_number

#: Every number the seed question printed (Keras float32, progress-bar rounding).
SEED_SGD_LOSSES = [450.9794, 1603.0852, 5698.4731, 20256.3398, 72005.1719, 255956.5938,
                   909848.5, 3234236.0, 11496730.0, 40867392.0, 145271264.0, 516395584.0,
                   1835629312.0, 6525110272.0, 23194802176.0, 82450513920.0, 293086593024.0,
                   1041834835968.0, 3703408164864.0, 13164500484096.0]
SEED_SGD_FIRST_INF_EPOCH = 64
SEED_SMALL_LR_LOSSES = {1: 1.2133, 2: 1.1442, 3: 1.0792, 4: 1.0178, 5: 0.9599, 6: 0.9053,
                        7: 0.8538, 8: 0.8053, 9: 0.7595, 10: 0.7163, 499: 9.9431e-06,
                        500: 9.9420e-06}
SEED_TEN_POINT_FINAL_LOSS = 7.9193e-05
SEED_ADAM_PREDICTION = 12.487587

#: Printed values carry 4-5 significant digits; "matching" means agreeing to 4.
SIGNIFICANT_RTOL = 5e-4


def seed_init_kernel() -> float:
    """The seed's default-SGD run's initial kernel, from its first printed loss (bias 0)."""
    return regression.kernels_from_first_loss(SEED_SGD_LOSSES[0], n=20)[0]


@dataclasses.dataclass
class Row:
    scenario: str
    quantity: str
    seed_value: Any
    gdsim_value: Any
    match: bool | None  # None: nothing printed to compare with (e.g. an inferred init)
    note: str = ""

    def to_json(self) -> dict:
        def convert(value):
            return json_number(value) if isinstance(value, float) else value
        return {"scenario": self.scenario, "quantity": self.quantity,
                "seed_value": convert(self.seed_value), "gdsim_value": convert(self.gdsim_value),
                "match": self.match, "note": self.note}


def _close(seed_value: float, value: float) -> bool:
    return math.isfinite(value) and abs(value - seed_value) <= SIGNIFICANT_RTOL * abs(seed_value)


def _kernels_note(kernels: list[float], several: str = "(each reproduces the printed number)"
                  ) -> str:
    shown = ", ".join(f"{k:+.6f}" for k in kernels)
    if len(kernels) > 1:
        return f"init kernels that fit: {shown} {several}"
    return f"inferred init kernel {shown}, bias 0"


def sgd_divergence_rows() -> list[Row]:
    """Default SGD (lr 0.01) on xs = 1..20: the loss grows ~3.55x per epoch to inf, then NaN."""
    scenario = "sgd lr=0.01, xs=1..20"
    kernels = regression.kernels_from_first_loss(SEED_SGD_LOSSES[0], n=20)
    result = regression.run(n=20, optimizer="sgd", kernel=kernels[0], epochs=500)
    rows = [Row(scenario, "init kernel (from loss 1)", None, kernels[0], None,
                _kernels_note(kernels) + "; the other root lies outside glorot's +-sqrt(3)")]
    for epoch, seed_value in enumerate(SEED_SGD_LOSSES, start=1):
        value = result.loss[epoch - 1]
        rows.append(Row(scenario, f"loss epoch {epoch}", seed_value, value,
                        _close(seed_value, value)))
    report = stability.regression_stability(seed_regression(20, "float64")[0], 0.01)
    predicted = regression.predicted_first_inf_epoch(SEED_SGD_LOSSES[0], report["loss_ratio"],
                                                     batch_size=20)
    seed_ratio = SEED_SGD_LOSSES[-1] / SEED_SGD_LOSSES[-2]
    rows += [
        Row(scenario, "loss ratio per epoch", seed_ratio, report["loss_ratio"],
            _close(seed_ratio, report["loss_ratio"]),
            "(1 - lr*lambda_max)^2 from the Hessian vs the seed's epoch 20/19"),
        Row(scenario, "first inf epoch", SEED_SGD_FIRST_INF_EPOCH, result.first_inf_epoch,
            result.first_inf_epoch == SEED_SGD_FIRST_INF_EPOCH, "the fit run"),
        Row(scenario, "first inf epoch (predicted)", SEED_SGD_FIRST_INF_EPOCH, predicted,
            predicted == SEED_SGD_FIRST_INF_EPOCH,
            "1 + ceil(log(float32 max / (20 * loss_1)) / log(ratio)), no run needed"),
        Row(scenario, "first NaN epoch", "after inf", result.first_nan_epoch,
            result.first_nan_epoch is not None and result.first_inf_epoch is not None
            and result.first_nan_epoch > result.first_inf_epoch,
            "the seed only says NaN follows inf; inf - inf in w*x + b makes it"),
    ]
    return rows


def small_lr_rows() -> list[Row]:
    """Answer 1: SGD(learning_rate=1e-4) converges."""
    scenario = "sgd lr=1e-4, xs=1..20"
    kernels = regression.kernels_from_first_loss(SEED_SMALL_LR_LOSSES[1], n=20)
    results = [regression.run(n=20, optimizer=optim.SGD(1e-4), kernel=k, epochs=500)
               for k in kernels]
    first = np.array(results[0].loss)
    spread = max(float(np.max(np.abs(np.array(r.loss) - first) / first)) for r in results)
    note = _kernels_note(kernels, f"(mirror images about 0.5, their losses agree to "
                                  f"{spread:.0e}: float32 rounding; the table shows the first)")
    rows = [Row(scenario, "init kernel (from loss 1)", None, kernels[0], None, note)]
    for epoch, seed_value in SEED_SMALL_LR_LOSSES.items():
        value = results[0].loss[epoch - 1]
        rows.append(Row(scenario, f"loss epoch {epoch}", seed_value, value,
                        _close(seed_value, value)))
    return rows


def ten_point_rows() -> list[Row]:
    """The user's observation: with only 10 points, lr 0.01 converges (loss 7.9193e-05)."""
    scenario = "sgd lr=0.01, xs=1..10"
    kernels = regression.infer_kernels(regression.final_quantity(10, "sgd", "loss"),
                                       SEED_TEN_POINT_FINAL_LOSS)
    values = [regression.run(n=10, kernel=k, epochs=500, predict_at=None).loss[-1] for k in kernels]
    return [Row(scenario, "final loss (epoch 500)", SEED_TEN_POINT_FINAL_LOSS,
                values[0] if values else float("nan"),
                bool(values) and all(_close(SEED_TEN_POINT_FINAL_LOSS, v) for v in values),
                _kernels_note(kernels) if kernels else "no init in glorot's range reproduces it")]


def threshold_rows(kernel: float) -> list[Row]:
    """'With 18 or more points it blows up' -- and the Hessian says where the edge really is."""
    rows = []
    max_n = stability.max_converging_n(0.01)
    for n, claim in ((18, "blows up"), (17, "fine (below 18)")):
        result = regression.run(n=n, kernel=kernel, epochs=500, predict_at=None)
        diverges = result.first_inf_epoch is not None or result.loss[-1] > result.loss[0]
        seed_diverges = claim == "blows up"
        note = (f"first inf at epoch {result.first_inf_epoch}" if result.first_inf_epoch
                else f"final loss {result.loss[-1]:.4g}")
        if n == 17:
            note += (f"; the Hessian says xs=1..{max_n} is the last that converges at lr 0.01: "
                     "17 points diverge too, just slower (the user stopped looking)")
        rows.append(Row(f"sgd lr=0.01, xs=1..{n}", "diverges", claim,
                        "diverges" if diverges else "converges", diverges == seed_diverges, note))
    rows.append(Row("sgd lr=0.01, xs=1..n", "largest converging n", "17", max_n, max_n == 17,
                    "seed: fine below 18; 2/lambda_max(n) > 0.01 holds up to this n"))
    return rows


def adam_rows() -> list[Row]:
    """Answer 2: optimizer="adam" converges; predict([25.0]) printed 12.487587."""
    scenario = "adam lr=0.001, xs=1..20"
    kernels = regression.infer_kernels(regression.final_quantity(20, "adam", "predict"),
                                       SEED_ADAM_PREDICTION)
    values = [regression.run(n=20, optimizer="adam", kernel=k, epochs=500).prediction for k in kernels]
    return [Row(scenario, "predict([25.0])", SEED_ADAM_PREDICTION,
                values[0] if values else float("nan"),
                bool(values) and all(_close(SEED_ADAM_PREDICTION, v) for v in values),
                _kernels_note(kernels) if kernels else "no init in glorot's range reproduces it")]


def regression_table() -> list[Row]:
    """Every scenario of the xs/ys seed, in the order the question tells them.

    Diverging runs are part of the story: their inf/NaN epochs are rows of the table, so the
    DivergenceWarning each would raise is not repeated on the terminal.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        rows = sgd_divergence_rows()
        kernel = rows[0].gdsim_value
        return rows + small_lr_rows() + ten_point_rows() + threshold_rows(kernel) + adam_rows()


def format_table(rows: list[Row]) -> str:
    """A fixed-width table a student can read in a terminal."""
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            if not math.isfinite(value):
                return str(value)
            return f"{value:.4f}" if 1e-3 < abs(value) < 1e7 else f"{value:.5g}"
        return str(value)

    def relative(row: Row) -> str:
        a, b = row.seed_value, row.gdsim_value
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        if not numeric or not (math.isfinite(a) and math.isfinite(b)) or a == 0:
            return ""
        return f"{abs(b - a) / abs(a):.1e}"

    header = ("scenario", "quantity", "seed printed", "gdsim", "rel. diff", "match")
    cells = [header] + [(r.scenario, r.quantity, show(r.seed_value), show(r.gdsim_value),
                         relative(r), {True: "yes", False: "NO", None: "-"}[r.match]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    previous = None
    for k, cell in enumerate(cells):
        if k and cell[0] != previous:
            lines.append("")
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                               enumerate(zip(cell, widths))).rstrip())
        if k and rows[k - 1].note:
            lines.append(" " * (widths[0] + 2) + "  " + rows[k - 1].note)
        previous = cell[0]
    compared = [r for r in rows if r.match is not None]
    matched = sum(r.match for r in compared)
    lines.append("")
    lines.append(f"{matched} of {len(compared)} compared rows match the seed's printed numbers.")
    claims = [r for r in compared if not r.match and not isinstance(r.seed_value, float)]
    if claims and len(claims) == len(compared) - matched:
        lines.append(f"The {len(claims)} rows marked NO are claims in the question that the runs "
                     "and the Hessian contradict (see their notes), not numbers gdsim misses.")
    return "\n".join(lines)
