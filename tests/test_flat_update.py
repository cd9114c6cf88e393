"""One flat optimizer call for a model's weights equals the per-array calls, bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gdsim import optim
from gdsim.nn.fast.flat_update import FlatUpdate, flattenable
from gdsim.testing import optimizers

shapes = st.lists(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), min_size=1, max_size=5)


@settings(deadline=None, max_examples=60)
@given(optimizers(), shapes, st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]),
       st.sampled_from([{}, {"clipvalue": 0.05}, {"weight_decay": 0.01}]))
def test_flat_steps_equal_per_array_steps(opt, shapes, seed, dtype, extra):
    for name, value in extra.items():  # element-wise extras keep the update element-wise
        setattr(opt, name, value)
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    assert flattenable(opt, params)
    flat, ref = FlatUpdate(), (params, opt.init(params))
    ours = ref
    for _ in range(4):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        ref = opt.step(ref[0], grads, ref[1])
        ours = flat.step(opt, ours[0], grads, ours[1])
        assert all(a.dtype == dtype and np.array_equal(a, b) for a, b in zip(ours[0], ref[0]))
        assert int(ours[1].iterations) == int(ref[1].iterations)
        for slot in ref[1].slots:
            assert all(np.array_equal(a, b) for a, b in zip(ours[1].slots[slot], ref[1].slots[slot]))


def _after_one_flat_step():
    """(optimizer, FlatUpdate, grads, initial params, params and state after one flat step)."""
    opt = optim.Adam(0.1)
    params = [np.ones((2, 3), np.float32), np.zeros(4, np.float32)]
    grads = [np.full((2, 3), 0.5, np.float32), np.full(4, -1.0, np.float32)]
    flat = FlatUpdate()
    return (opt, flat, grads, params) + flat.step(opt, params, grads, opt.init(params))


def test_replaced_weights_or_state_are_packed_afresh():
    opt, flat, grads, params, new, state = _after_one_flat_step()
    replaced = [np.full((2, 3), 7.0, np.float32), new[1]]  # e.g. set_weights on one layer
    ours, _ = flat.step(opt, replaced, grads, state)
    ref, _ = opt.step(replaced, grads, state)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))
    fresh = opt.init(params)  # e.g. a loaded checkpoint's state
    ours, ours_state = flat.step(opt, new, grads, fresh)
    ref, ref_state = opt.step(new, grads, fresh)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))
    assert np.array_equal(ours_state.slots["m"][0], ref_state.slots["m"][0])


@pytest.mark.parametrize("opt", [optim.SGD(0.1, clipnorm=1.0), optim.Adam(0.1, global_clipnorm=1.0),
                                 optim.SGD(np.array([0.1, 0.2]))])
def test_coupled_updates_are_not_flattened(opt):
    """Per-array norms, a global norm summed in another order, or per-run hyper-parameters
    would change the result: those keep the per-array path."""
    assert not flattenable(opt, [np.ones((2, 3)), np.ones(2)])


def test_subclasses_and_plain_callables_are_not_flattened():
    """A subclass may couple elements (say, normalise by each array's norm); a plain callable
    learning rate may return per-run arrays. Schedules with scalar parameters are fine."""
    from gdsim import schedules

    class NormSGD(optim.SGD):
        def _update(self, w, g, slots, lr, t):
            return w - lr * g / np.sqrt(np.sum(g * g)), slots

    params = [np.ones((2, 3)), np.ones(2)]
    assert not flattenable(NormSGD(0.1), params)
    assert not flattenable(optim.SGD(lambda t: 0.1), params)
    assert flattenable(optim.SGD(schedules.ExponentialDecay(0.1, 10, 0.5)), params)
    assert not flattenable(optim.SGD(schedules.ExponentialDecay(np.array([0.1, 0.2]), 10, 0.5)), params)


def test_a_state_changed_in_place_is_packed_afresh():
    """OptState is mutable: a replaced step count or slot array must not be ignored."""
    opt, flat, grads, _, new, state = _after_one_flat_step()
    new, state = flat.step(opt, new, grads, state)
    state.iterations = np.array(0, dtype=np.int64)  # e.g. restarting the bias correction
    state.slots["m"][1] = np.zeros(4, np.float32)
    ours, ours_state = flat.step(opt, new, grads, state)
    ref, ref_state = opt.step(new, grads, state)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))
    assert int(ours_state.iterations) == int(ref_state.iterations) == 1
    assert all(np.array_equal(a, b) for a, b in zip(ours_state.slots["m"], ref_state.slots["m"]))


def test_mixed_dtypes_are_not_flattened():
    assert not flattenable(optim.SGD(0.1), [np.ones(2, np.float32), np.ones(2, np.float64)])


def test_a_slot_of_another_dtype_is_not_flattened():
    """Adam's slots of a weight once stepped in float64 stay float64 after the weight is cast
    back: concatenated, they would promote every slot and change the update's bits."""
    opt = optim.Adam(0.01)
    params = [np.ones(3, np.float32), np.ones(2, np.float32)]
    state = opt.init(params)
    assert flattenable(opt, params, state)
    state.slots["m"][1] = state.slots["m"][1].astype(np.float64)
    assert not flattenable(opt, params, state)


def test_flattenable_reads_the_optimizers_own_declaration():
    """A user subclass that declares itself non-element-wise keeps the per-array path, even
    though nothing else about it (type, hyper-parameters) would refuse it; one that declares
    itself element-wise again is flattened."""

    class SignSGD(optim.SGD):  # element-wise, declared so
        elementwise = True

        def _update(self, w, g, slots, lr, t):
            return w - lr * np.sign(g), slots

    class PerArrayNormalized(optim.SGD):
        elementwise = False

    params = [np.ones((2, 3)), np.ones(2)]
    assert not PerArrayNormalized(0.1).is_elementwise()
    assert not flattenable(PerArrayNormalized(0.1), params)
    assert SignSGD(0.1).is_elementwise() and flattenable(SignSGD(0.1), params)
    assert not flattenable(SignSGD(0.1, clipnorm=1.0), params)
