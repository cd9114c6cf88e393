"""gdsim.spikes: spikes come back, trends and divergence are not spikes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from gdsim.spikes import Spike, baseline, detect_spikes, nonfinite_epochs, spike_summary


def smooth_curve(epochs=60, start=2.0, floor=0.3, rate=0.05):
    """A decreasing training-like curve: floor + (start - floor) * exp(-rate * t)."""
    t = np.arange(epochs)
    return floor + (start - floor) * np.exp(-rate * t)


def test_smooth_decreasing_curve_has_no_spikes():
    assert detect_spikes(smooth_curve()) == []
    summary = spike_summary(smooth_curve())
    assert summary == {"count": 0, "max_height": 0.0, "mean_height": 0.0, "epochs": [],
                       "nonfinite_epochs": [], "diverged_at": None}


def test_isolated_spikes_found_at_the_right_epochs_with_the_right_heights():
    curve = smooth_curve()
    values = curve.copy()
    injected = {10: 0.5, 25: 1.0, 40: 0.3}  # 1-based epoch -> multiplicative bump
    for epoch, bump in injected.items():
        values[epoch - 1] *= 1 + bump
    spikes = detect_spikes(values)
    assert [s.epoch for s in spikes] == [10, 25, 40]
    for spike in spikes:
        # decreasing curve: the running minimum before epoch t is the value at t-1
        expected_baseline = curve[spike.epoch - 2]
        assert spike.baseline == pytest.approx(expected_baseline)
        assert spike.value == pytest.approx(curve[spike.epoch - 1] * (1 + injected[spike.epoch]))
        assert spike.height == pytest.approx(spike.value / expected_baseline - 1)
        assert spike.recovered_at == spike.epoch + 1 and spike.start == spike.epoch
    summary = spike_summary(values)
    assert summary["count"] == 3 and summary["epochs"] == [10, 25, 40]
    heights = [s.height for s in spikes]
    assert summary["max_height"] == pytest.approx(max(heights))
    assert summary["mean_height"] == pytest.approx(np.mean(heights))


def test_spike_is_a_frozen_dataclass_of_python_scalars():
    values = [1.0, 0.9, 2.0, 0.8]
    (spike,) = detect_spikes(values)
    assert spike == Spike(epoch=3, value=2.0, baseline=0.9, height=pytest.approx(2.0 / 0.9 - 1),
                          recovered_at=4, start=3)
    assert type(spike.epoch) is int and type(spike.recovered_at) is int
    assert type(spike.height) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        spike.epoch = 1


def test_multi_epoch_spike_is_one_event_reported_at_its_peak():
    values = [1.0, 0.9, 1.5, 2.5, 1.8, 0.85, 0.8]
    (spike,) = detect_spikes(values, recovery=3)
    assert (spike.start, spike.epoch, spike.value, spike.recovered_at) == (3, 4, 2.5, 6)


def test_monotone_upward_trend_is_not_a_spike():
    overfitting = np.concatenate([smooth_curve(30), smooth_curve(30)[-1] * np.linspace(1, 3, 30)])
    assert detect_spikes(overfitting) == []
    assert detect_spikes(overfitting, window=5) == []
    assert detect_spikes(np.linspace(1.0, 5.0, 50)) == []


def test_step_up_is_a_sustained_rise_not_a_spike():
    step = [1.0] * 10 + [2.0] * 10
    assert detect_spikes(step) == []
    assert detect_spikes(step, window=3) == []
    # a plateau longer than `recovery` that returns is not a spike, nor is its tail
    plateau = [1.0] * 10 + [2.0] * 5 + [1.0] * 10
    for window in (None, 1, 3, 10, 30):
        assert detect_spikes(plateau, recovery=3, window=window) == []
    assert [s.epoch for s in detect_spikes(plateau, recovery=5)] == [11]


def test_window_finds_spikes_on_top_of_a_rising_curve():
    rising = list(np.linspace(1.0, 2.0, 30))
    values = rising[:20] + [rising[20] * 1.6] + rising[21:]
    assert detect_spikes(values) == []  # never back within 20% of the running minimum 1.0
    (spike,) = detect_spikes(values, window=3)
    assert spike.epoch == 21 and spike.baseline == pytest.approx(rising[17])


def test_spike_riding_on_a_longer_excursion():
    # measured: the seed CNN's val_loss at difficulty 0.5, epochs 29-40 (Keras, JAX backend)
    values = [0.448, 0.423, 0.421, 0.467, 0.480, 0.651, 0.508, 0.476, 0.441, 0.393, 0.432, 0.397]
    (spike,) = detect_spikes(values, threshold=0.2)
    assert (spike.epoch, spike.recovered_at) == (6, 8) and spike.height == pytest.approx(0.651 / 0.421 - 1)
    # at 10% the excursion starts at epoch 4 and takes 6 epochs to return: not a spike ...
    assert detect_spikes(values, threshold=0.1) == []
    # ... but relative to the previous epoch the jump at epoch 6 is one
    (spike,) = detect_spikes(values, threshold=0.1, window=1)
    assert spike.epoch == 6 and spike.baseline == 0.480


def test_threshold_boundary_is_strict():
    # exceeding needs v > b * (1 + threshold); exactly at the level is not a spike
    assert detect_spikes([1.0, 1.25, 1.0], threshold=0.25) == []
    (spike,) = detect_spikes([1.0, 1.2500001, 1.0], threshold=0.25)
    assert spike.height == pytest.approx(0.2500001)
    # returning exactly to the level counts as recovered
    (spike,) = detect_spikes([1.0, 2.0, 1.25], threshold=0.25)
    assert spike.recovered_at == 3


@pytest.mark.parametrize("length, recovery, is_spike", [
    (1, 1, True), (2, 1, False), (2, 2, True), (3, 2, False), (3, 3, True), (4, 3, False),
])
def test_recovery_boundary(length, recovery, is_spike):
    # `length` epochs above the level: back at start + length, a spike iff length <= recovery
    values = [1.0, 1.0] + [2.0] * length + [1.0, 1.0]
    spikes = detect_spikes(values, recovery=recovery)
    assert (len(spikes) == 1) == is_spike
    if is_spike:
        assert spikes[0].start == 3 and spikes[0].recovered_at == 3 + length


def test_series_ending_above_the_level_is_not_a_confirmed_spike():
    assert detect_spikes([1.0, 0.9, 0.8, 3.0]) == []
    assert detect_spikes([1.0, 0.9, 0.8, 3.0, 3.0]) == []


def test_warmup_epochs_never_start_a_spike_but_set_the_baseline():
    values = [1.0, 2.0, 0.9, 0.8, 2.0, 0.7]
    assert [s.epoch for s in detect_spikes(values, warmup=0)] == [2, 5]
    assert [s.epoch for s in detect_spikes(values, warmup=1)] == [2, 5]
    assert [s.epoch for s in detect_spikes(values, warmup=2)] == [5]
    assert detect_spikes(values, warmup=5) == []
    # epoch 1 itself has no baseline, whatever the warmup
    assert detect_spikes([5.0, 1.0, 1.0], warmup=0) == []


def test_empty_and_length_one():
    for values in ([], [1.0], [np.nan]):
        assert detect_spikes(values) == []
    assert spike_summary([])["count"] == 0
    assert spike_summary([np.inf])["diverged_at"] == 1
    assert baseline([]).shape == (0,)


def test_nonfinite_values_are_divergence_not_spikes():
    values = [1.0, 0.9, np.inf, 0.8, 0.7]
    assert detect_spikes(values) == []
    assert nonfinite_epochs(values) == [3]
    values = [1.0, 0.9, 3.0, np.nan, 0.8]  # NaN before the return: not a spike
    assert detect_spikes(values) == []
    # Keras-style divergence: the loss grows, overflows to inf, then NaN for ever
    keras_like = [450.9, 1603.0, 5698.4, 20256.3, np.inf, np.nan, np.nan]
    summary = spike_summary(keras_like)
    assert summary["count"] == 0
    assert summary["nonfinite_epochs"] == [5, 6, 7] and summary["diverged_at"] == 5


def test_nonfinite_values_are_skipped_by_the_baseline():
    values = [np.nan, 2.0, 1.0, np.inf, 3.0, 0.9]
    np.testing.assert_array_equal(baseline(values), [np.nan, np.nan, 2.0, 1.0, 1.0, 1.0])
    # epoch 5 follows an inf epoch, so it does not start an excursion from the baseline
    assert detect_spikes(values) == []
    (spike,) = detect_spikes([np.nan, 2.0, 1.0, 1.0, 3.0, 0.9])
    assert spike.epoch == 5 and spike.baseline == 1.0


def test_trailing_window_baseline():
    values = [5.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_array_equal(baseline(values), [np.nan, 5.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(baseline(values, window=2), [np.nan, 5.0, 1.0, 1.0, 2.0])
    np.testing.assert_array_equal(baseline(values, window=1), [np.nan, 5.0, 1.0, 2.0, 3.0])


def test_zero_baseline_gives_infinite_height():
    (spike,) = detect_spikes([1.0, 0.0, 0.5, 0.0])
    assert spike.epoch == 3 and spike.height == np.inf


@pytest.mark.parametrize("kwargs, error, words", [
    ({"threshold": 0.0}, ValueError, "threshold must be > 0"),
    ({"threshold": "0.2"}, TypeError, "threshold must be a real number"),
    ({"recovery": 0}, ValueError, "recovery must be >= 1"),
    ({"recovery": 2.0}, TypeError, "recovery must be an integer"),
    ({"warmup": -1}, ValueError, "warmup must be >= 0"),
    ({"window": 0}, ValueError, "window must be >= 1"),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        detect_spikes([1.0, 2.0, 1.0], **kwargs)
    with pytest.raises(error, match=words):
        spike_summary([1.0, 2.0, 1.0], **kwargs)


@pytest.mark.parametrize("values, error, words", [
    ([[1.0, 2.0]], ValueError, "values must have rank 1"),
    ("loss", TypeError, "values must be a numeric array"),
    (None, TypeError, "values must be a numeric array"),
])
def test_bad_values(values, error, words):
    with pytest.raises(error, match=words):
        detect_spikes(values)


@st.composite
def curves_with_spikes(draw):
    epochs = draw(st.integers(10, 120))
    start = draw(st.floats(0.5, 100.0))
    floor = draw(st.floats(0.0, 0.9)) * start
    rate = draw(st.floats(0.0, 0.05))  # at most ~5% drop per epoch
    threshold = draw(st.floats(0.05, 0.5))
    warmup = draw(st.integers(0, 3))
    epochs_hit = draw(st.sets(st.integers(warmup + 2, epochs - 1), max_size=6))
    # at least 2 epochs apart so each spike recovers before the next one
    chosen = sorted(epochs_hit)
    chosen = [e for i, e in enumerate(chosen) if i == 0 or e - chosen[i - 1] >= 2]
    heights = [draw(st.floats(3.0, 6.0)) * threshold for _ in chosen]
    return epochs, start, floor, rate, threshold, warmup, dict(zip(chosen, heights))


@given(curves_with_spikes())
@settings(deadline=None, max_examples=150)
def test_injected_spikes_on_random_smooth_curves(case):
    epochs, start, floor, rate, threshold, warmup, injected = case
    curve = smooth_curve(epochs, start, floor, rate)
    assume(curve.min() > 0)
    values = curve.copy()
    for epoch, bump in injected.items():
        values[epoch - 1] *= 1 + bump
    spikes = detect_spikes(values, threshold=threshold, warmup=warmup, recovery=1)
    assert [s.epoch for s in spikes] == sorted(injected)
    for spike in spikes:
        expected_baseline = curve[:spike.epoch - 1].min()
        assert spike.baseline == pytest.approx(expected_baseline, rel=1e-12)
        assert spike.height == pytest.approx(values[spike.epoch - 1] / expected_baseline - 1, rel=1e-9)
        assert spike.height > threshold
    # the smooth curve alone has none, and a Keras-style NaN tail changes nothing before it
    assert detect_spikes(curve, threshold=threshold, warmup=warmup) == []
    tail = np.concatenate([values, [np.inf, np.nan]])
    assert detect_spikes(tail, threshold=threshold, warmup=warmup, recovery=1) == spikes
    assert spike_summary(tail, threshold=threshold)["diverged_at"] == epochs + 1


@given(st.lists(st.one_of(st.floats(0.0, 1e6), st.just(np.nan), st.just(np.inf)), max_size=60),
       st.floats(0.01, 2.0), st.integers(1, 5), st.integers(0, 3), st.none() | st.integers(1, 8))
@settings(deadline=None, max_examples=200)
def test_every_spike_satisfies_the_definition(values, threshold, recovery, warmup, window):
    v = np.array(values, dtype=np.float64)
    spikes = detect_spikes(v, threshold, recovery, warmup, window)
    b = baseline(v, window)
    last_return = 0
    for spike in spikes:
        s, p, r = spike.start, spike.epoch, spike.recovered_at
        level = b[s - 1] + threshold * abs(b[s - 1])
        assert warmup < s <= p < r <= s + recovery and s >= last_return
        assert spike.baseline == b[s - 1]
        assert np.isfinite(v[s - 1:r]).all()
        assert (v[s - 1:r - 1] > level).all() and v[r - 1] <= level
        assert v[s - 2] <= level  # the excursion rose from the baseline level
        assert spike.value == v[s - 1:r - 1].max() == v[p - 1]
        last_return = r
    assert spike_summary(v, threshold, recovery, warmup, window)["count"] == len(spikes)


def test_the_detector_is_available_from_gdsim_analysis():
    from gdsim import analysis

    values = [1.0, 0.8, 0.7, 1.2, 0.65, 0.6]
    assert [s.epoch for s in analysis.detect_spikes(values)] == [4]
    assert analysis.spike_summary(values)["count"] == 1
