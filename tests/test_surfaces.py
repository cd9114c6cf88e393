"""gdsim.surfaces: analytic derivatives against finite differences, known minima, batch
invariance (bit for bit) and argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from gdsim import surfaces
from gdsim.surfaces import MAX_LISTED_MINIMA

CASES = [
    ("quadratic", {}),
    ("quadratic", {"dim": 1}),
    ("quadratic", {"eigenvalues": [1.0, 20.0], "angle": 0.7, "center": [1.0, -0.5]}),
    ("quadratic", {"dim": 4, "condition_number": 1e3, "lambda_max": 5.0, "seed": 3}),
    ("rosenbrock", {}),
    ("rosenbrock", {"dim": 3}),
    ("rosenbrock", {"dim": 5}),
    ("rosenbrock", {"a": 0.5, "b": 10.0}),
    ("beale", {}),
    ("himmelblau", {}),
    ("rastrigin", {"dim": 1}),
    ("rastrigin", {}),
    ("rastrigin", {"dim": 6}),
    ("double_well", {}),
    ("double_well", {"dim": 2, "tilt": -0.1, "curvature_y": 3.0}),
    ("double_well", {"tilt": 0.0}),
    ("saddle", {}),
    ("six_hump_camel", {}),
    ("styblinski_tang", {"dim": 1}),
    ("styblinski_tang", {"dim": 3}),
]
SURFACES = [surfaces.get(name, **params) for name, params in CASES]
IDS = [repr(s) for s in SURFACES]
WITH_MINIMA = [s for s in SURFACES if len(s.minima)]

FEW = settings(max_examples=12, deadline=None)


@st.composite
def points(draw, surface, max_batch=6):
    """A batch (n, d) of points inside the surface's box."""
    n = draw(st.integers(1, max_batch))
    unit = draw(hnp.arrays(np.float64, (n, surface.dim), elements=st.floats(0.0, 1.0)))
    lo, hi = surface.box
    return np.clip(lo + unit * (hi - lo), lo, hi)


def central_difference(f, x, h):
    """d f / d x_j by float64 central differences: shape f(x).shape + (d,)."""
    columns = []
    for j in range(x.shape[-1]):
        e = np.zeros(x.shape[-1])
        e[j] = h
        columns.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(columns, axis=-1)


# ----- derivatives ------------------------------------------------------------------------

@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
@FEW
@given(data=st.data())
def test_gradient_matches_central_differences(surface, data):
    x = data.draw(points(surface))
    g = surface.grad(x)
    fd = central_difference(surface.value, x, 1e-6)
    scale = 1.0 + np.abs(g).max(axis=-1, keepdims=True) + np.abs(surface.value(x))[..., None]
    assert g.shape == x.shape
    assert np.all(np.abs(fd - g) <= 1e-6 * scale)


@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
@FEW
@given(data=st.data())
def test_hessian_matches_central_differences_of_gradient(surface, data):
    x = data.draw(points(surface))
    h = surface.hessian(x)
    fd = central_difference(surface.grad, x, 1e-6)  # fd[..., i, j] = d g_i / d x_j
    scale = 1.0 + np.abs(h).max(axis=(-2, -1), keepdims=True) \
        + np.abs(surface.grad(x)).max(axis=-1)[..., None, None]
    assert h.shape == x.shape + (surface.dim,)
    assert np.all(np.abs(fd - h) <= 1e-6 * scale)
    assert np.array_equal(h, np.swapaxes(h, -1, -2))


# ----- minima -----------------------------------------------------------------------------

@pytest.mark.parametrize("surface", WITH_MINIMA, ids=[repr(s) for s in WITH_MINIMA])
def test_listed_minima_are_strict_local_minima_inside_the_box(surface):
    minima = surface.minima
    assert minima.ndim == 2 and minima.shape[1] == surface.dim
    h = surface.hessian(minima)
    scale = 1.0 + np.abs(h).max()
    assert np.abs(surface.grad(minima)).max() <= 1e-9 * scale
    assert np.all(np.linalg.eigvalsh(h)[:, 0] > 0)
    lo, hi = surface.box
    assert np.all(lo < hi) and np.all(minima > lo) and np.all(minima < hi)
    assert len({tuple(np.round(m, 6)) for m in minima}) == len(minima)  # no duplicates


@pytest.mark.parametrize("surface", WITH_MINIMA, ids=[repr(s) for s in WITH_MINIMA])
def test_global_minimum_comes_first_and_has_the_lowest_value(surface):
    values = surface.value(surface.minima)
    mask = surface.global_mask
    assert mask[0] and np.array_equal(surface.global_minimum, surface.minima[0])
    assert surface.global_min_value == surface.value(surface.global_minimum)
    assert surface.global_min_value == values.min()
    n_global = int(mask.sum())
    assert np.all(mask[:n_global]) and not np.any(mask[n_global:])
    assert np.all(values[~mask] > surface.global_min_value + 1e-6)
    assert np.all(np.diff(values[~mask]) >= 0)


KNOWN_GLOBAL = [  # (name, params, global minimum point, value) from the literature
    ("rosenbrock", {}, [1.0, 1.0], 0.0),
    ("rosenbrock", {"dim": 6}, [1.0] * 6, 0.0),
    ("rosenbrock", {"a": 2.0}, [2.0, 4.0], 0.0),
    ("beale", {}, [3.0, 0.5], 0.0),
    ("himmelblau", {}, [3.0, 2.0], 0.0),
    ("rastrigin", {"dim": 3}, [0.0, 0.0, 0.0], 0.0),
    ("six_hump_camel", {}, [0.0898420, -0.7126564], -1.0316284535),
    ("styblinski_tang", {"dim": 2}, [-2.9035340, -2.9035340], -78.3323314075),
    ("quadratic", {"dim": 3, "condition_number": 5.0, "center": [1.0, 2.0, 3.0]}, [1, 2, 3], 0.0),
]


@pytest.mark.parametrize("name, params, point, value", KNOWN_GLOBAL)
def test_global_minimum_matches_the_literature(name, params, point, value):
    s = surfaces.get(name, **params)
    np.testing.assert_allclose(s.global_minimum, point, atol=1e-6)
    assert abs(s.global_min_value - value) <= 1e-9
    assert s.value(np.asarray(point, dtype=float)) >= s.global_min_value


@pytest.mark.parametrize("name, params, count", [
    ("himmelblau", {}, 4), ("six_hump_camel", {}, 6), ("beale", {}, 1),
    ("rosenbrock", {"dim": 2}, 1), ("rosenbrock", {"dim": 3}, 1), ("rosenbrock", {"dim": 4}, 2),
    ("rosenbrock", {"dim": 7}, 2), ("double_well", {}, 2), ("saddle", {}, 0),
    ("rastrigin", {"dim": 1}, 11), ("rastrigin", {"dim": 2}, 121), ("rastrigin", {"dim": 4}, 11**4),
    ("rastrigin", {"dim": 5}, 11), ("styblinski_tang", {"dim": 3}, 8),
    ("styblinski_tang", {"dim": 14}, 2**14), ("styblinski_tang", {"dim": 15}, 16),
])
def test_number_of_listed_minima(name, params, count):
    assert len(surfaces.get(name, **params).minima) == count
    assert 11**4 <= MAX_LISTED_MINIMA < 11**5


def test_rosenbrock_local_minimum_in_4d_matches_the_literature():
    # Kok & Sandrock (2009): the n = 4 local minimum is near (-0.7757, 0.6131, 0.3820, 0.1459).
    s = surfaces.get("rosenbrock", dim=4)
    np.testing.assert_allclose(s.minima[1], [-0.7757, 0.6131, 0.3820, 0.1459], atol=1e-4)
    assert abs(s.value(s.minima[1]) - 3.7014) < 1e-4


@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
def test_saddle_points_are_critical_and_indefinite_or_maxima(surface):
    for point in surface.saddle_points:
        assert np.abs(surface.grad(point)).max() <= 1e-9
        assert np.linalg.eigvalsh(surface.hessian(point))[0] < 0
    lo, hi = surface.box
    assert np.all(surface.saddle_points > lo) and np.all(surface.saddle_points < hi)


@pytest.mark.parametrize("name, count", [("beale", 2), ("himmelblau", 4), ("six_hump_camel", 7),
                                         ("saddle", 1), ("double_well", 1), ("rosenbrock", 0)])
def test_number_of_known_saddles(name, count):
    assert surfaces.get(name).saddle_points.shape == (count, surfaces.get(name).dim)


# ----- double well ------------------------------------------------------------------------

def test_double_well_default_numbers():
    s = surfaces.get("double_well")
    assert s.params == {"tilt": 0.2, "dim": 1}
    np.testing.assert_allclose(s.minima[:, 0], [-1.0880339, 0.8788851], atol=1e-7)
    np.testing.assert_allclose(s.barrier, [0.2091488], atol=1e-7)
    assert abs(s.global_min_value + 0.4591595) < 1e-7
    assert abs(s.barrier_height - 0.0817135) < 1e-7
    assert abs(s.barrier_height_global - 0.4795961) < 1e-7


@settings(max_examples=40, deadline=None)
@given(tilt=st.floats(-0.38, 0.38), dim=st.sampled_from([1, 2]))
def test_double_well_minima_and_barrier_are_the_roots_of_the_cubic(tilt, dim):
    s = surfaces.get("double_well", tilt=tilt, dim=dim)
    roots = np.sort(np.roots([1.0, 0.0, -1.0, tilt]).real)
    np.testing.assert_allclose(np.sort(s.minima[:, 0]), roots[[0, 2]], atol=1e-8)
    np.testing.assert_allclose(s.barrier[0], roots[1], atol=1e-8)
    assert np.all(s.minima[:, 1:] == 0) and np.all(s.barrier[1:] == 0)
    # tilt > 0 lowers the left well; the global minimum is on the side opposite the tilt
    if tilt > 1e-9:
        assert s.global_minimum[0] < 0
    elif tilt < -1e-9:
        assert s.global_minimum[0] > 0
    assert s.barrier_height > 0 and s.barrier_height_global >= s.barrier_height


def test_double_well_nearest_minimum_is_the_basin():
    s = surfaces.get("double_well", dim=2)
    left = int(np.argmin(s.minima[:, 0]))
    b = s.barrier[0]
    x = np.array([[b - 1e-9, 0.0], [b + 1e-9, 5.0], [b, 0.0], [-3.0, 1.0], [np.nan, 0.0]])
    np.testing.assert_array_equal(s.nearest_minimum(x), [left, 1 - left, 1 - left, left, -1])


# ----- quadratic --------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(eigenvalues=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=6),
       seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_quadratic_hessian_has_the_requested_eigenvalues(eigenvalues, seed):
    s = surfaces.get("quadratic", eigenvalues=eigenvalues, seed=seed)
    np.testing.assert_allclose(np.linalg.eigvalsh(s.hessian_matrix), np.sort(eigenvalues),
                               rtol=1e-10, atol=1e-12 * max(eigenvalues))
    assert np.array_equal(s.hessian(np.zeros((3, s.dim)))[1], s.hessian_matrix)
    assert s.condition_number == pytest.approx(max(eigenvalues) / min(eigenvalues))
    q = s.rotation
    np.testing.assert_allclose(q @ q.T, np.eye(s.dim), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(dim=st.integers(2, 6), condition=st.floats(1.0, 1e4), lambda_max=st.floats(0.01, 100.0))
def test_quadratic_from_condition_number(dim, condition, lambda_max):
    s = surfaces.get("quadratic", dim=dim, condition_number=condition, lambda_max=lambda_max)
    assert s.lambda_max == lambda_max
    assert s.condition_number == pytest.approx(condition, rel=1e-12)
    assert np.all(np.diff(s.eigenvalues) >= 0)
    x = np.arange(1.0, dim + 1)
    assert s.value(x) == pytest.approx(0.5 * np.sum(s.eigenvalues * x * x), rel=1e-14)


def test_quadratic_angle_rotates_the_valley():
    s = surfaces.get("quadratic", eigenvalues=[1.0, 100.0], angle=math.pi / 2)
    # rotating by 90 degrees swaps the axes: the steep direction is now x
    np.testing.assert_allclose(s.hessian_matrix, np.diag([100.0, 1.0]), atol=1e-12)


# ----- vectorization and bit-reproducibility ----------------------------------------------

@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 70))
def test_batch_equals_one_at_a_time_bit_for_bit(surface, dtype, seed, n):
    lo, hi = surface.box
    x = np.random.default_rng(seed).uniform(lo, hi, size=(n, surface.dim)).astype(dtype)
    for f in (surface.value, surface.grad, surface.hessian):
        batch = f(x)
        assert batch.dtype == dtype
        assert np.array_equal(batch, np.stack([f(point) for point in x]))
        assert np.array_equal(batch, f(x.reshape(n, 1, surface.dim))[:, 0])
        assert np.array_equal(batch, f(np.asfortranarray(x)))  # memory layout does not matter
        assert np.array_equal(batch[: n // 2], f(x[: n // 2]))
    if len(surface.minima):
        near = surface.nearest_minimum(x)
        assert np.array_equal(near, [surface.nearest_minimum(point) for point in x])


@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
def test_output_shapes_and_dtypes(surface):
    d = surface.dim
    x = np.zeros((2, 3, d), dtype=np.float32)
    assert surface.value(x).shape == (2, 3) and surface.value(x).dtype == np.float32
    assert surface.grad(x).shape == (2, 3, d)
    assert surface.hessian(x).shape == (2, 3, d, d)
    ints = np.zeros(d, dtype=np.int64)
    assert surface.value(ints).shape == () and surface.value(ints).dtype == np.float64
    assert surface.grad([0.0] * d).dtype == np.float64
    assert surface.value(np.zeros((0, d))).shape == (0,)


@pytest.mark.parametrize("surface", [s for s in WITH_MINIMA if s.name != "double_well"],
                         ids=[repr(s) for s in WITH_MINIMA if s.name != "double_well"])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_nearest_minimum_is_the_closest_listed_minimum(surface, seed):
    lo, hi = surface.box
    x = np.random.default_rng(seed).uniform(lo - 1, hi + 1, size=(40, surface.dim))
    index = surface.nearest_minimum(x)
    distance = ((x[:, None, :] - surface.minima[None]) ** 2).sum(-1)
    np.testing.assert_allclose(distance[np.arange(40), index], distance.min(axis=1), rtol=1e-12)
    assert np.array_equal(surface.nearest_minimum(surface.minima), np.arange(len(surface.minima)))
    bad = x[:3].copy()
    bad[0, 0], bad[1, -1], bad[2, 0] = np.nan, np.inf, -np.inf
    np.testing.assert_array_equal(surface.nearest_minimum(bad), [-1, -1, -1])


def test_non_finite_points_are_data_not_errors():
    s = surfaces.get("rosenbrock")
    with np.errstate(all="ignore"):
        v = s.value([[np.nan, 0.0], [np.inf, 1.0]])
    assert np.isnan(v[0]) and not np.isfinite(v[1])


# ----- registry and errors ----------------------------------------------------------------

def test_registry_names_and_round_trip():
    expected = {"quadratic", "rosenbrock", "beale", "himmelblau", "rastrigin", "double_well",
                "saddle", "six_hump_camel", "styblinski_tang"}
    assert surfaces.names() == sorted(surfaces.names())
    assert expected <= set(surfaces.names())
    x = np.random.default_rng(0).standard_normal((5, 4))
    for s in SURFACES:
        again = surfaces.get(s.name, **s.params)
        pts = x[:, : s.dim] if s.dim <= 4 else np.ones((2, s.dim))
        assert np.array_equal(again.value(pts), s.value(pts))
        assert type(s).__name__ in repr(s)
        assert all(f"{k}=" in repr(s) for k in s.params)


def test_saddle_has_no_minimum():
    s = surfaces.get("saddle")
    assert s.minima.shape == (0, 2) and s.global_min_value == -math.inf
    assert np.all(np.isnan(s.global_minimum))
    np.testing.assert_array_equal(s.saddle_points, [[0.0, 0.0]])
    with pytest.raises(ValueError, match="no minima"):
        s.nearest_minimum([0.0, 0.0])


@pytest.mark.parametrize("surface", SURFACES, ids=IDS)
def test_wrong_last_axis_names_expected_and_received_shapes(surface):
    bad = np.zeros((4, surface.dim + 1))
    for f in (surface.value, surface.grad, surface.hessian):
        with pytest.raises(ValueError) as info:
            f(bad)
        message = str(info.value)
        assert f"(..., {surface.dim})" in message and str(bad.shape) in message
    with pytest.raises(ValueError, match="shape"):
        surface.value(1.0)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError) as info:
        surfaces.get("rosenbrok")
    assert "did you mean 'rosenbrock'" in str(info.value) and "himmelblau" in str(info.value)
    with pytest.raises(TypeError, match="accepts"):
        surfaces.get("beale", dim=3)


@pytest.mark.parametrize("name, params, error, match", [
    ("quadratic", {"dim": 3, "condition_number": 0.5}, ValueError, "condition_number must be >= 1"),
    ("quadratic", {"dim": 0, "condition_number": 2.0}, ValueError, "dim"),
    ("quadratic", {"dim": 1, "condition_number": 2.0}, ValueError, "dim=1"),
    ("quadratic", {"dim": 2, "condition_number": 2.0, "lambda_max": -1.0}, ValueError, "lambda_max"),
    ("quadratic", {"eigenvalues": [1.0, -2.0]}, ValueError, "eigenvalues"),
    ("quadratic", {"eigenvalues": [1.0, 2.0], "dim": 2}, ValueError, "not both"),
    ("quadratic", {"eigenvalues": [1.0, 2.0, 3.0], "angle": 0.1}, ValueError, "seed"),
    ("quadratic", {"eigenvalues": [1.0, 2.0], "angle": 0.1, "seed": 1}, ValueError, "angle or seed"),
    ("quadratic", {"eigenvalues": [1.0, 2.0], "center": [0.0]}, ValueError, "center"),
    ("quadratic", {"dim": 2.5}, TypeError, "dim"),
    ("rosenbrock", {"dim": 1}, ValueError, "dim"),
    ("rosenbrock", {"b": 0.0}, ValueError, "b must be > 0"),
    ("rastrigin", {"A": -1.0}, ValueError, "A must be > 0"),
    ("double_well", {"tilt": 0.5}, ValueError, "tilt"),
    ("double_well", {"dim": 3}, ValueError, "dim must be 1 or 2"),
    ("double_well", {"tilt": "x"}, TypeError, "tilt"),
    ("styblinski_tang", {"dim": 0}, ValueError, "dim"),
])
def test_bad_parameters(name, params, error, match):
    with pytest.raises(error, match=match):
        surfaces.get(name, **params)


def test_bad_point_types():
    s = surfaces.get("himmelblau")
    with pytest.raises(TypeError):
        s.value("1, 2")
    with pytest.raises(TypeError):
        s.value(np.array([1 + 1j, 2]))


def test_module_docstring_examples_run():
    import doctest

    result = doctest.testmod(surfaces)
    assert result.attempted >= 3 and result.failed == 0
