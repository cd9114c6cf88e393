"""gdsim.studies.cnn.data: the genuine/fake image set, and why it needs a CNN."""

from __future__ import annotations

import numpy as np
import pytest

from gdsim.datasets import train_validation_split
from gdsim.studies.cnn.data import FAKE, GENUINE, real_fake_images


# ---------------------------------------------------------------- real_fake_images

SMALL = dict(n=200, size=16)


def test_same_seed_gives_identical_bits():
    x1, y1 = real_fake_images(**SMALL, seed=7)
    x2, y2 = real_fake_images(**SMALL, seed=7)
    assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()


def test_different_seeds_differ():
    x1, y1 = real_fake_images(**SMALL, seed=1)
    x2, y2 = real_fake_images(**SMALL, seed=2)
    assert not np.array_equal(x1, x2)
    assert not np.array_equal(y1, y2)


def test_seed_sequence_and_generator_are_not_consumed():
    sequence = np.random.SeedSequence(11)
    a, _ = real_fake_images(**SMALL, seed=sequence)
    b, _ = real_fake_images(**SMALL, seed=sequence)
    np.testing.assert_array_equal(a, b)
    generator = np.random.default_rng(11)
    state = generator.bit_generator.state
    c, _ = real_fake_images(**SMALL, seed=generator)
    assert generator.bit_generator.state == state
    np.testing.assert_array_equal(a, c)  # a Generator contributes its seed sequence


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shapes_dtypes_range_and_balance(data_format, dtype):
    x, y = real_fake_images(n=301, size=16, channels=3, seed=0, data_format=data_format, dtype=dtype)
    expected = (301, 16, 16, 3) if data_format == "channels_last" else (301, 3, 16, 16)
    assert x.shape == expected and y.shape == (301, 2)
    assert x.dtype == y.dtype == np.dtype(dtype)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    assert y[:, GENUINE].sum() == 150 and y[:, FAKE].sum() == 151
    # shuffled: both classes appear in the first and the last quarter
    assert 0 < y[:75, FAKE].sum() < 75 and 0 < y[-75:, FAKE].sum() < 75


def test_channels_first_is_a_transpose_of_channels_last():
    last, y_last = real_fake_images(**SMALL, seed=3)
    first, y_first = real_fake_images(**SMALL, seed=3, data_format="channels_first")
    np.testing.assert_array_equal(np.moveaxis(first, 1, -1), last)
    np.testing.assert_array_equal(y_first, y_last)
    assert first.flags.c_contiguous


def test_grayscale_and_other_channel_counts():
    for channels in (1, 2, 4):
        x, _ = real_fake_images(n=40, size=8, channels=channels, seed=0)
        assert x.shape == (40, 8, 8, channels) and np.isfinite(x).all()


def test_difficulty_keeps_balance_and_changes_only_what_it_should():
    _, y0 = real_fake_images(n=400, size=16, seed=5, difficulty=0.0)
    x1, y1 = real_fake_images(n=400, size=16, seed=5, difficulty=1.0)
    assert y1[:, FAKE].sum() == 200
    # label noise at d=1: 10% of each class's labels swapped -> 40 of 400 labels differ
    assert int((y0 != y1).any(axis=1).sum()) == 40
    assert not np.array_equal(x1, real_fake_images(n=400, size=16, seed=5, difficulty=0.0)[0])


def test_images_are_not_constant_and_classes_share_brightness_and_contrast():
    x, y = real_fake_images(n=2000, size=16, seed=0)
    fake = y[:, FAKE] == 1
    mean, std = x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3))
    assert std.min() > 0.02
    # brightness/contrast drawn from one distribution for both classes
    assert abs(mean[fake].mean() - mean[~fake].mean()) < 0.02
    assert abs(std[fake].mean() - std[~fake].mean()) < 0.01


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n": 1}, ValueError, "n must be >= 2"),
    ({"n": 10.0}, TypeError, "n must be an integer"),
    ({"size": 15}, ValueError, "size must be even"),
    ({"size": 4}, ValueError, "size must be >= 8"),
    ({"channels": 0}, ValueError, "channels must be >= 1"),
    ({"difficulty": 1.5}, ValueError, r"difficulty must be in \[0.0, 1.0\]"),
    ({"difficulty": float("nan")}, ValueError, "difficulty must be finite"),
    ({"data_format": "channel_last"}, ValueError, "did you mean 'channels_last'"),
    ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"seed": "zero"}, TypeError, "seed must be an integer"),
])
def test_real_fake_images_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        real_fake_images(**{"n": 20, "size": 8, **kwargs})


# ---------------------------------------------------------------- learnability vs linear baselines
#
# The image set must need a CNN: linear models on the mean colour or on the raw pixels stay
# near chance, while a model on local, CNN-like features (neighbour differences, energy at
# the Nyquist frequency, cross-channel misalignment) does well. The lead adds a real CNN
# learnability test when gdsim.nn lands (measured with the seed CNN in Keras: val accuracy
# ~0.85 after 40 epochs at the default difficulty).

def _logistic_regression_accuracy(train_features, train_labels, val_features, val_labels,
                                  steps=300, l2=1e-3):
    """Validation accuracy of logistic regression on standardized features, fitted by
    full-batch gradient descent on mean logistic loss + l2/2 |w|^2.

    The step is 1/L with L = lambda_max(A^T A / N)/4 + l2, the loss's smoothness constant:
    raw pixels of smooth images are so correlated (lambda_max ~ 500) that a fixed step like
    0.5 diverges, and a diverged baseline would prove nothing about linear separability.
    """
    mean, scale = train_features.mean(axis=0), train_features.std(axis=0) + 1e-8
    # float32 halves the memory traffic of the two (N, D) mat-vecs per step on raw pixels
    a = ((train_features - mean) / scale).astype(np.float32)
    v = ((val_features - mean) / scale).astype(np.float32)
    labels = train_labels.astype(np.float32)
    direction = np.ones(a.shape[1], dtype=np.float32)
    for _ in range(30):  # power iteration for lambda_max
        direction = (a @ direction) @ a / len(a)
        largest = float(np.linalg.norm(direction))
        direction /= largest
    step = np.float32(1.0 / (largest / 4 + l2))
    w, b = np.zeros(a.shape[1], dtype=np.float32), np.float32(0)
    for _ in range(steps):
        error = 0.5 * (1 + np.tanh(0.5 * (a @ w + b))) - labels  # sigmoid without overflow
        w -= step * (error @ a / len(a) + np.float32(l2) * w)
        b -= step * np.mean(error)
    return float(np.mean(((v @ w + b) > 0) == (val_labels == 1)))


def _local_features(x):
    """Per-image statistics a 3x3 conv + ReLU + pooling can compute, normalized by contrast."""
    x = x.astype(np.float64)
    var = x.var(axis=(1, 2, 3)) + 1e-8
    dx, dy = np.diff(x, axis=2), np.diff(x, axis=1)
    checker = x[:, :-1, :-1] - x[:, 1:, :-1] - x[:, :-1, 1:] + x[:, 1:, 1:]
    laplace = (4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1]
               - x[:, 1:-1, :-2] - x[:, 1:-1, 2:])
    energy = lambda a: (a ** 2).mean(axis=(1, 2, 3))  # noqa: E731
    roughness = lambda a: np.abs(a).mean(axis=(1, 2, 3))  # noqa: E731
    colour_misalignment = energy(dx - dx.mean(axis=-1, keepdims=True)) / energy(dx)
    return np.stack([
        np.log(roughness(dx) ** 2 / var), np.log(roughness(dy) ** 2 / var),
        np.log(energy(checker) / var), np.log(energy(laplace) / var),
        # 2x2-block upsampling: differences inside blocks differ from those across
        np.abs(np.log(roughness(dx[:, :, 0::2]) / roughness(dx[:, :, 1::2]))),
        np.abs(np.log(roughness(dy[:, 0::2]) / roughness(dy[:, 1::2]))),
        np.log(colour_misalignment),
    ], axis=1)


@pytest.fixture(scope="module")
def baselines():
    """Validation accuracies of the three linear baselines at difficulty 0, 0.5 and 1."""
    results = {}
    for difficulty in (0.0, 0.5, 1.0):
        x, y = real_fake_images(n=1600, seed=123, difficulty=difficulty)
        (xt, yt), (xv, yv) = train_validation_split(x, y[:, FAKE])
        results[difficulty] = {
            "mean_colour": _logistic_regression_accuracy(xt.mean(axis=(1, 2)), yt, xv.mean(axis=(1, 2)), yv),
            "raw_pixels": _logistic_regression_accuracy(xt.reshape(len(xt), -1), yt,
                                                        xv.reshape(len(xv), -1), yv),
            "local_features": _logistic_regression_accuracy(_local_features(xt), yt,
                                                            _local_features(xv), yv, steps=500),
        }
    return results


@pytest.mark.slow
@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_mean_colour_is_at_chance(baselines, difficulty):
    assert baselines[difficulty]["mean_colour"] < 0.6


@pytest.mark.slow
@pytest.mark.parametrize("difficulty", [0.0, 0.5, 1.0])
def test_raw_pixel_linear_model_is_weak(baselines, difficulty):
    result = baselines[difficulty]
    assert result["raw_pixels"] < 0.6
    assert result["local_features"] - result["raw_pixels"] > 0.15


@pytest.mark.slow
def test_local_features_separate_the_classes(baselines):
    assert baselines[0.0]["local_features"] > 0.8
    assert baselines[0.5]["local_features"] > 0.72
    assert baselines[1.0]["local_features"] > 0.65


@pytest.mark.slow
def test_difficulty_lowers_the_reachable_accuracy(baselines):
    local = [baselines[d]["local_features"] for d in (0.0, 0.5, 1.0)]
    assert local[0] > local[1] > local[2]
