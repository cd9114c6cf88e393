"""The data of seed question 000: ~8000 "genuine vs fake" images, split as Keras splits them.

``real_fake_images``
    A synthetic stand-in for the question's images. Both classes are drawn from one texture
    process; "fake" images additionally pass through generator-like artifacts that are
    zero-mean under their random phase and sign, so the classes differ in *local
    second-order structure* (neighbour differences, energy at the Nyquist frequency,
    cross-channel alignment) and not in anything a linear model on the pixels can see. A
    CNN's first conv + ReLU sees it; logistic regression does not.

``make_data``
    ``real_fake_images`` with the last quarter held out (``gdsim.datasets.train_validation_split``,
    Keras ``fit(validation_split=...)``): what every CNN experiment trains and scores on.

Everything is a pure function of its arguments and seed: same seed, identical bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdsim import _validate, datasets

__all__ = ["real_fake_images", "make_data", "check_size", "GENUINE", "FAKE"]

#: Column of the one-hot label for each class in ``real_fake_images``.
GENUINE, FAKE = 0, 1

# Child-stream indices: adding a new random ingredient appends a new index, so the
# bits of the existing ingredients for a given seed never change.
_TEXTURE, _BLOBS, _LOOK, _ARTIFACTS, _NOISE, _LABELS, _ORDER = range(7)
_N_ARTIFACTS = 4  # upsampling checkerboard, high-frequency smoothing, grid, colour shift


def _child(root: np.random.SeedSequence, index: int) -> np.random.Generator:
    # Like root.spawn(...)[index] but without spawn's side effect (it counts children on
    # the root), so passing the same SeedSequence twice gives the same data twice.
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (index,))))


def _standardize(z: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    z = z - z.mean(axis=axes, keepdims=True)
    return z / np.maximum(z.std(axis=axes, keepdims=True), 1e-12)


def _power_law_fields(rng: np.random.Generator, n: int, fields: int, size: int,
                      exponent: np.ndarray) -> np.ndarray:
    """Random-phase fields with amplitude spectrum ``|F(f)| ~ f^-exponent``.

    exponent: ``(n, fields)``. Returns ``(n, fields, size, size)`` float32, each field
    zero-mean with unit standard deviation. Natural images have exponent ~ 1.
    """
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fy, fx).astype(np.float32)
    radius[0, 0] = 1.0  # the DC term is removed below; avoid 0 ** -exponent
    amplitude = radius ** -exponent[..., None, None].astype(np.float32)
    amplitude[..., 0, 0] = 0.0
    # A complex Gaussian has uniformly random phase: a random-phase spectrum.
    spectrum = rng.standard_normal((n, fields, size, size // 2 + 1, 2), dtype=np.float32)
    spectrum = (spectrum[..., 0] + 1j * spectrum[..., 1]) * amplitude
    return _standardize(np.fft.irfft2(spectrum, s=(size, size)).astype(np.float32), (-2, -1))


def _blobs(rng: np.random.Generator, n: int, size: int, channels: int, count: int = 4) -> np.ndarray:
    """``count`` anisotropic Gaussian blobs/strokes per image, each with its own colour.

    Returns ``(n, size, size, channels)`` float32. The loop runs over the ``count`` blob
    slots (vectorized over images) to keep memory at one ``(n, size, size)`` array.
    """
    grid = np.arange(size, dtype=np.float32)
    out = np.zeros((n, size, size, channels), dtype=np.float32)
    for _ in range(count):
        centre = rng.uniform(0, size, (n, 2)).astype(np.float32)
        angle = rng.uniform(0, np.pi, n).astype(np.float32)
        # long axis up to size/2, short axis as thin as a pencil stroke (~1 px)
        long_axis = rng.uniform(1.5, size / 2, n).astype(np.float32)
        short_axis = long_axis * rng.uniform(0.1, 1.0, n).astype(np.float32)
        short_axis = np.maximum(short_axis, 0.8)
        colour = rng.normal(0.0, 1.0, (n, channels)).astype(np.float32)
        # exp(-q/2), q = (along/long)^2 + (across/short)^2 = A dx^2 + 2B dx dy + C dy^2:
        # the A and C terms cost only (n, size); one (n, size, size) product for B.
        # (Not split into three exp factors: exp(-B dx dy) alone overflows float32.)
        cos, sin = np.cos(angle), np.sin(angle)
        inv_long, inv_short = long_axis ** -2, short_axis ** -2
        a = (cos * cos * inv_long + sin * sin * inv_short)[:, None]
        c = (sin * sin * inv_long + cos * cos * inv_short)[:, None]
        b = (cos * sin * (inv_long - inv_short))[:, None, None]
        dx = grid[None, :] - centre[:, 1, None]  # (n, W)
        dy = grid[None, :] - centre[:, 0, None]  # (n, H)
        q = (-b) * dy[:, :, None] * dx[:, None, :]
        q -= (0.5 * a * dx * dx)[:, None, :]
        q -= (0.5 * c * dy * dy)[:, :, None]
        g = np.exp(q, out=q)
        out += g[..., None] * colour[:, None, None, :]
    return out


def _textures(root: np.random.SeedSequence, n: int, size: int, channels: int) -> np.ndarray:
    """The shared "natural image" process, ``(n, size, size, channels)`` float32, unit std.

    luminance (1/f^a, a ~ U(0.8, 1.8)) + per-channel chroma (smoother, weight ~ U(0.1, 0.7))
    + 4 coloured blobs/strokes (weight ~ U(0, 1)).
    """
    rng = _child(root, _TEXTURE)
    exponent = np.concatenate([rng.uniform(0.8, 1.8, (n, 1)),
                               rng.uniform(1.5, 2.5, (n, channels))], axis=1)
    fields = _power_law_fields(rng, n, 1 + channels, size, exponent)
    luminance, chroma = fields[:, :1], fields[:, 1:]
    chroma_weight = rng.uniform(0.1, 0.7, (n, 1, 1, 1)).astype(np.float32)
    z = np.moveaxis(luminance + chroma_weight * chroma, 1, -1)  # (n, H, W, C)
    blob_weight = rng.uniform(0.0, 1.0, (n, 1, 1, 1)).astype(np.float32)
    z = z + blob_weight * _blobs(_child(root, _BLOBS), n, size, channels)
    return _standardize(z, (1, 2, 3))


def _blur(z: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1]/4 binomial filter over H and W (periodic edges, like the FFT fields)."""
    for axis in (1, 2):
        z = 0.25 * np.roll(z, 1, axis) + 0.5 * z + 0.25 * np.roll(z, -1, axis)
    return z


def _apply_artifacts(z: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Generator-like artifacts on standardized fakes ``z`` ``(m, H, W, C)``.

    Every image gets each artifact with probability 1/2 (at least one). Each artifact is
    either a linear filter (mean-preserving) or an additive pattern with a random phase
    and sign, so ``E[fake pixel] = E[genuine pixel]`` at every position: a linear model on
    pixels has nothing to latch on to.

    1. upsampling: blend with the 2x2-block-mean, nearest-upsampled image, plus a
       transposed-conv-like period-2 pattern (checkerboard, rows or columns) whose
       amplitude follows the local brightness;
    2. smoothing: blend with a binomial blur (generators lack high frequencies);
    3. grid: faint 1-pixel lines every 4 or 8 pixels at a random offset;
    4. colour shift: one channel moved by a sub-pixel amount (needs ``C >= 2``).
    """
    m, size, _, channels = z.shape
    used = rng.random((m, _N_ARTIFACTS)) < 0.5
    if channels < 2:
        used[:, 3] = False
    usable = _N_ARTIFACTS if channels >= 2 else _N_ARTIFACTS - 1
    none = ~used.any(axis=1)
    used[none, rng.integers(0, usable, m)[none]] = True
    sign = rng.choice(np.float32([-1, 1]), (m, 2, 1, 1, 1))  # pattern signs: upsampling, grid
    idx = np.arange(size)

    def blend(current: np.ndarray, new: np.ndarray, artifact: int, weight: float) -> np.ndarray:
        # images without this artifact keep `current`; the others move `weight` towards `new`
        w = np.where(used[:, artifact], np.float32(weight), np.float32(0))[:, None, None, None]
        return current + w * (new - current)

    # 1. upsampling: random 0/1 pixel offset of the 2x2 blocks, then a period-2 pattern
    shift = rng.integers(0, 2, (m, 2))
    rolled = np.where(shift[:, 0, None, None, None] == 1, np.roll(z, 1, 1), z)
    rolled = np.where(shift[:, 1, None, None, None] == 1, np.roll(rolled, 1, 2), rolled)
    block = rolled.reshape(m, size // 2, 2, size // 2, 2, channels).mean(axis=(2, 4))
    up = np.repeat(np.repeat(block, 2, axis=1), 2, axis=2)
    up = np.where(shift[:, 1, None, None, None] == 1, np.roll(up, -1, 2), up)
    up = np.where(shift[:, 0, None, None, None] == 1, np.roll(up, -1, 1), up)
    patterns = np.stack([(-1.0) ** (idx[:, None] + idx[None, :]),            # checkerboard
                         np.broadcast_to((-1.0) ** idx[:, None], (size, size)),  # rows
                         np.broadcast_to((-1.0) ** idx[None, :], (size, size))]  # columns
                        ).astype(np.float32)
    pattern = patterns[rng.integers(0, 3, m)][..., None]
    envelope = np.clip(1.0 + 0.5 * up, 0.0, 2.0)  # transposed-conv overlap scales with signal
    upsampled = up + (0.35 * strength) * sign[:, 0] * pattern * envelope
    z = blend(z, upsampled, 0, 0.5 + 0.5 * strength)

    # 2. smoothing
    z = blend(z, _blur(_blur(z)), 1, 0.4 + 0.6 * strength)

    # 3. grid lines every `period` pixels, zero-mean over the image, random offset and sign
    period = rng.choice([4, 8], m)
    offset = rng.integers(0, 8, (m, 2)) % period[:, None]
    on_row = (idx[None, :] - offset[:, :1]) % period[:, None] == 0   # (m, H)
    on_col = (idx[None, :] - offset[:, 1:]) % period[:, None] == 0   # (m, W)
    lines = (on_row[:, :, None] | on_col[:, None, :]).astype(np.float32)
    lines -= lines.mean(axis=(1, 2), keepdims=True)
    z = blend(z, z + sign[:, 1] * lines[..., None], 2, 0.6 * strength)

    # 4. colour shift: channel k moved by t = 0.5 + 0.5*strength pixel (linear interpolation)
    #    along a random axis and direction
    if channels >= 2:
        k = rng.integers(0, channels, m)
        axis_is_w = rng.random(m) < 0.5
        step = rng.choice([-1, 1], m)
        moved = np.empty_like(z)
        for axis, direction in ((1, -1), (1, 1), (2, -1), (2, 1)):  # 4 shift kinds, vectorized
            pick = (axis_is_w == (axis == 2)) & (step == direction)
            moved[pick] = np.roll(z[pick], direction, axis)
        one_channel = (np.arange(channels)[None, :] == k[:, None]).astype(np.float32)[:, None, None, :]
        z = blend(z, z + one_channel * (moved - z), 3, 0.5 + 0.5 * strength)
    return z


def check_size(n: Any, size: Any = 32, channels: Any = 3, name: str = "n") -> tuple[int, int, int]:
    """``(n, size, channels)`` checked, and refused up front (with the estimate and the limit)
    if the images would not fit in memory: the float32 images and ~4 float64 working copies
    while they are made, ``36 * n * size**2 * channels`` bytes. ``name`` is what the error
    calls ``n`` (the CLI says ``--n``); callers that write files check before creating any."""
    n = _validate.integer(name, n, minimum=2)
    size = _validate.integer("size", size, minimum=8)
    if size % 2:
        raise ValueError(f"size must be even (fakes are upsampled by 2), got {size}")
    channels = _validate.integer("channels", channels, minimum=1)
    _validate.memory("size and channels", 36 * size * size * channels,
                     f"one {_validate.count(size)}x{_validate.count(size)}x{_validate.count(channels)} image")
    _validate.memory(name, 36 * n * size * size * channels,
                     f"{_validate.count(n)} images of {size}x{size}x{channels}")
    return n, size, channels


def real_fake_images(n: int = 8000, size: int = 32, channels: int = 3, seed: Any = 0,
                     difficulty: float = 0.5, data_format: str = "channels_last",
                     dtype: Any = "float32") -> tuple[np.ndarray, np.ndarray]:
    """A deterministic synthetic genuine-vs-fake image set (seed question 000).

    Returns ``x`` of shape ``(n, size, size, channels)`` (``channels_first``:
    ``(n, channels, size, size)``) with values in ``[0, 1]``, and one-hot ``y`` of shape
    ``(n, 2)`` (column ``GENUINE = 0``, ``FAKE = 1``), ``n // 2`` genuine labels, the rest
    fake, in a seeded random order.

    Generation, per image ``i`` (standardized field ``z_i``, unit std):

    * genuine: ``z = std(L + c*C + b*B)`` with ``L`` a random-phase 1/f^a luminance field,
      ``C`` per-channel smoother chroma fields, ``B`` random coloured blobs/strokes;
    * fake: the same process, then generator artifacts (``_apply_artifacts``): nearest /
      transposed-conv upsampling checkerboards, smoothed high frequencies, periodic grid
      lines, a sub-pixel colour-channel shift, each zero-mean under its random phase/sign;
    * both: white "sensor" noise ``sigma ~ U(0, 0.05 + 0.45*d)``, then
      ``x = clip(mu_c + s * std(z + noise), 0, 1)`` with the colour ``mu_c ~ U(0.25, 0.75)``
      per channel and contrast ``s ~ U(0.08, 0.2)`` drawn from the same distribution for
      both classes — the mean colour and the contrast carry no label information.

    ``difficulty = d`` in ``[0, 1]`` lowers the artifact strength ``1 - 0.8*d``, raises the
    noise that masks them and flips a fraction ``0.1*d`` of each class's labels (equal
    numbers each way, so the balance is kept). Measured at n=8000, seed 0, the last 25% as
    validation (logistic regression, 300 full-batch steps at step 1/L), and for the seed
    CNN (Keras 3.15 / JAX, Adam(1e-4), batch 32, final validation accuracy):

    ==========  ===========  ==========  ==============  ==============================
    difficulty  mean colour  raw pixels  local features  seed CNN
    ==========  ===========  ==========  ==============  ==============================
    0           0.52         0.51        0.89            0.96 after 30 epochs
    0.5         0.52         0.50        0.84            0.84 after 40 (still rising)
    1           0.50         0.51        0.74            0.64 after 30 (still rising)
    ==========  ===========  ==========  ==============  ==============================

    (local features: contrast-normalized neighbour differences, 2x2 checkerboard and
    Laplacian energy, block-phase asymmetry, cross-channel misalignment; see
    ``tests/studies/cnn/test_data.py``). With n=20000 the mean-colour model is at 0.50 +- 0.005.
    The seed CNN's validation loss spikes above the training loss and comes back, as in
    the seed question: at d=0, epochs 16-18 read 0.224, 0.605, 0.248 (train 0.276).

    ``seed``: int >= 0, SeedSequence or Generator (its seed sequence is used, the generator
    itself is not advanced); ``None`` draws fresh OS entropy (not reproducible).
    Fully vectorized (8000 32x32x3 images peak at about 0.6 GB of memory).
    """
    n, size, channels = check_size(n, size, channels)
    root = _validate.seed("seed", seed)
    difficulty = _validate.in_range("difficulty", difficulty, 0.0, 1.0, high_open=False)
    data_format = _validate.choice("data_format", data_format, ("channels_last", "channels_first"))
    dtype = _validate.float_dtype("dtype", dtype)

    n_fake = n - n // 2
    is_fake = np.arange(n) >= n // 2
    z = _textures(root, n, size, channels)
    strength = 1.0 - 0.8 * difficulty
    z[is_fake] = _apply_artifacts(z[is_fake], _child(root, _ARTIFACTS), strength)

    look = _child(root, _LOOK)
    colour = look.uniform(0.25, 0.75, (n, 1, 1, channels)).astype(np.float32)
    contrast = look.uniform(0.08, 0.2, (n, 1, 1, 1)).astype(np.float32)
    noise_rng = _child(root, _NOISE)
    sigma = noise_rng.uniform(0.0, 0.05 + 0.45 * difficulty, (n, 1, 1, 1)).astype(np.float32)
    z += sigma * noise_rng.standard_normal(z.shape, dtype=np.float32)
    # per-channel centring removes each image's own tint, so only `colour` sets it
    z -= z.mean(axis=(1, 2), keepdims=True)
    z /= np.maximum(z.std(axis=(1, 2, 3), keepdims=True), 1e-12)
    x = np.clip(colour + contrast * z, 0.0, 1.0)

    # Label noise: swap k labels each way so the classes stay exactly balanced.
    label_rng = _child(root, _LABELS)
    k = int(round(0.1 * difficulty * (n // 2)))
    label = is_fake.copy()
    label[label_rng.choice(n // 2, k, replace=False)] = True
    label[n // 2 + label_rng.choice(n_fake, k, replace=False)] = False

    order = _child(root, _ORDER).permutation(n)
    x, label = x[order], label[order]
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    y = np.zeros((n, 2), dtype=dtype)
    y[np.arange(n), label.astype(np.intp)] = 1
    return x.astype(dtype, copy=False), y


def make_data(n: int, size: int, seed: int = 0, difficulty: float = 0.5,
              validation_fraction: float = 0.25) -> tuple[tuple[np.ndarray, np.ndarray],
                                                          tuple[np.ndarray, np.ndarray]]:
    """``real_fake_images(n, size, 3, seed)`` split like Keras ``validation_split`` (the last
    ``validation_fraction``): ``(x_train, y_train), (x_val, y_val)``, x ``(m, size, size, 3)``
    float32 in [0, 1], y one-hot ``(m, 2)``."""
    x, y = real_fake_images(n=n, size=size, channels=3, seed=seed, difficulty=difficulty)
    return datasets.train_validation_split(x, y, validation_fraction)
