"""Spikes in a loss curve: short excursions above the best value so far that come back.

Seed question 000 asks why the validation loss "sometimes spikes above the training
loss and comes back". To count and plot such events the word needs a definition that
separates three things a lecturer shows side by side:

* a **spike** — the curve jumps up and returns within a few epochs;
* a **sustained rise** — overfitting or a plateau at a worse level: it does not return;
* **divergence** — the value becomes inf/NaN (Keras prints ``nan`` from then on).

Definition (epochs are 1-based like Keras's ``Epoch t/T``; ``v_t`` the value at epoch t)::

    baseline  b_t = min{ v_s : s in W_t, v_s finite },
              W_t = {1, ..., t-1}                         (window=None: the running minimum)
              W_t = {max(1, t-window), ..., t-1}          (window=w: a trailing minimum)
    level     L_t = b_t + threshold * |b_t|
    exceeds   e_t = (t > warmup) and v_t finite and b_t exists and v_t > L_t

An *excursion* starts at an epoch s that exceeds while the epoch before was at the
baseline level, ``e_s and v_{s-1} finite and v_{s-1} <= L_s``, and that is not inside an
earlier spike. With the baseline frozen at ``b = b_s`` and level ``L = L_s``, its
return epoch is

    r = min{ u > s : v_u finite and v_u <= L }.

The excursion is a spike iff ``r`` exists, ``r - s <= recovery`` and every epoch in
``s..r`` is finite (an inf/NaN on the way is divergence, not a spike). The spike is
reported at its peak ``p = argmax_{s <= u < r} v_u`` (the first one on ties) with
``height = (v_p - b) / |b|`` (``inf`` if ``b == 0``) and ``recovered_at = r``; no new
excursion starts before ``r``. An excursion that does not return in time (a sustained
rise, a plateau longer than ``recovery``, or one still above ``L`` at the last epoch) is
not a spike, and its tail is not one either: inside it the epoch before is above the same
level, so no epoch there starts an excursion. With a trailing ``window`` the baseline
catches up with a risen curve, and spikes on top of it are found again. Likewise a tall
spike riding on a longer, lower excursion belongs to that excursion (lowering
``threshold`` can hide it); a short window, e.g. ``window=1`` (the jump relative to the
previous epoch), finds it.

Because ``v_u > L_s >= b_s`` for every epoch of an excursion, the running minimum does not
move during it: with ``window=None`` the frozen baseline is just ``b_u`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gdsim import _overflow
from gdsim import _validate

__all__ = ["Spike", "baseline", "detect_spikes", "spike_summary", "nonfinite_epochs"]


@dataclass(frozen=True)
class Spike:
    """One spike. Epochs are 1-based (Keras's ``Epoch t/T``).

    epoch: the peak epoch; value: the value there; baseline: the frozen baseline ``b``;
    height: ``(value - baseline) / |baseline|``; start: the first epoch above the level;
    recovered_at: the first epoch back at or below the level.
    """

    epoch: int
    value: float
    baseline: float
    height: float
    recovered_at: int
    start: int


def _values(values: Any) -> np.ndarray:
    return _validate.array("values", values, dtype=np.float64, ndim=1, allow_empty=True,
                           require_finite=False)


def _check(threshold: Any, recovery: Any, warmup: Any, window: Any) -> tuple[float, int, int, int | None]:
    threshold = _validate.positive("threshold", threshold)
    recovery = _validate.integer("recovery", recovery, minimum=1)
    warmup = _validate.integer("warmup", warmup, minimum=0)
    if window is not None:
        window = _validate.integer("window", window, minimum=1)
    return threshold, recovery, warmup, window


def baseline(values: Any, window: int | None = None) -> np.ndarray:
    """``b_t`` for every epoch: the minimum of the finite values before ``t``.

    values: ``(T,)``. Returns ``(T,)`` float64; ``NaN`` where no finite earlier value
    exists in the window (always at epoch 1). ``window=None`` is the running minimum.
    """
    v = _values(values)
    if window is not None:
        window = _validate.integer("window", window, minimum=1)
    if v.size == 0:
        return v.copy()
    if window is not None:
        window = min(window, v.size)  # a longer window sees the same T - 1 earlier values
    finite = np.where(np.isfinite(v), v, np.inf)
    # prior[t] holds v_{t-1}: the baseline of epoch t only looks strictly backwards
    prior = np.concatenate([[np.inf], finite[:-1]])
    if window is None:
        b = np.minimum.accumulate(prior)
    else:
        padded = np.concatenate([np.full(window - 1, np.inf), prior])
        b = np.lib.stride_tricks.sliding_window_view(padded, window).min(axis=-1)
    return np.where(np.isinf(b), np.nan, b)


def nonfinite_epochs(values: Any) -> list[int]:
    """1-based epochs whose value is inf or NaN (divergence; never counted as spikes)."""
    v = _values(values)
    return (np.flatnonzero(~np.isfinite(v)) + 1).tolist()


def detect_spikes(values: Any, threshold: float = 0.2, recovery: int = 3, warmup: int = 1,
                  window: int | None = None) -> list[Spike]:
    """The spikes of a loss curve, in epoch order (definition in the module docstring).

    values: ``(T,)`` per-epoch values, e.g. ``history.history["val_loss"]``; may contain
    inf/NaN and may be empty. threshold: relative rise above the baseline, > 0 (0.2 = 20%).
    recovery: the most epochs after its start by which a spike must be back (>= 1).
    warmup: the first ``warmup`` epochs never start a spike (they still set the baseline).
    window: ``None`` for the running minimum, or a trailing window length (>= 1) so a
    spike on top of a slowly rising (overfitting) curve is still found.
    """
    v = _values(values)
    threshold, recovery, warmup, window = _check(threshold, recovery, warmup, window)
    total = v.size
    if total < 2:
        return []
    b = baseline(v, window)
    finite = np.isfinite(v)
    level = b + threshold * np.abs(b)
    epochs = np.arange(1, total + 1)
    with _overflow.overflow_is_data():
        exceeds = (epochs > warmup) & finite & ~np.isnan(b) & (v > level)

    previous = np.concatenate([[np.nan], v[:-1]])
    with _overflow.overflow_is_data():
        starts = np.flatnonzero(exceeds & np.isfinite(previous) & (previous <= level))

    spikes: list[Spike] = []
    resume = 0  # 0-based index before which no new excursion may start (inside a spike)
    for s in starts.tolist():  # a loop over excursions, not over epochs
        if s < resume:
            continue
        after = v[s + 1:]
        with _overflow.overflow_is_data():
            back = np.flatnonzero(np.isfinite(after) & (after <= level[s]))
        if back.size == 0:
            continue  # never returns: a sustained rise, not a spike
        r = s + 1 + int(back[0])
        if r - s > recovery or not finite[s:r].all():
            continue
        resume = r
        p = s + int(np.argmax(v[s:r]))
        base = float(b[s])
        with _overflow.overflow_is_data():  # a tiny baseline: the height is inf
            height = (v[p] - base) / abs(base) if base != 0 else np.inf
        spikes.append(Spike(epoch=p + 1, value=float(v[p]), baseline=base, height=float(height),
                            recovered_at=r + 1, start=s + 1))
    return spikes


def spike_summary(values: Any, threshold: float = 0.2, recovery: int = 3, warmup: int = 1,
                  window: int | None = None) -> dict[str, Any]:
    """Counts for a loss curve: ``count``, ``max_height``, ``mean_height`` (0.0 when there
    are no spikes), ``epochs`` (peak epochs), and, separately, ``nonfinite_epochs`` and
    ``diverged_at`` (the first inf/NaN epoch or ``None``). Arguments as ``detect_spikes``.
    """
    spikes = detect_spikes(values, threshold, recovery, warmup, window)
    heights = np.array([s.height for s in spikes], dtype=np.float64)
    bad = nonfinite_epochs(values)
    return {
        "count": len(spikes),
        "max_height": float(heights.max()) if spikes else 0.0,
        "mean_height": float(heights.mean()) if spikes else 0.0,
        "epochs": [s.epoch for s in spikes],
        "nonfinite_epochs": bad,
        "diverged_at": bad[0] if bad else None,
    }
