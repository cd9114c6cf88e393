"""Optimizers as pure ``(init, step)`` pairs over NumPy arrays, with Keras 3's formulas.

An optimizer owns hyper-parameters, never parameters::

    opt = Adam(learning_rate=0.01)
    state = opt.init(params)                       # OptState: iterations + slot arrays
    params, state = opt.step(params, grads, state)  # pure: inputs are never mutated

``params`` is one array or a list of arrays (a list in gives a list out).

**Reading order.** Each update rule is one short function in its own module, next to its
math: :func:`~gdsim.optim.sgd.sgd`, :func:`~gdsim.optim.adam.adam`,
:func:`~gdsim.optim.rmsprop.rmsprop`, :func:`~gdsim.optim.adagrad.adagrad`. What every rule
shares -- checking inputs, casting, the runs axis, clipping, weight decay, the learning rate
at this step -- is the chain in :mod:`gdsim.optim.pipeline`; the state and its ``.npz`` files
are :mod:`gdsim.optim.state`. PyTorch's forms of the same algorithms (different formulas,
same names) are in :mod:`gdsim.optim.torch_form`, and :mod:`gdsim.optim.equivalent` converts
between the two where an exact reparametrisation exists.

**Keras parity.** Every update is the one in ``keras/src/optimizers/<name>.py`` (Keras 3),
term for term and in the same order of floating-point operations. Arithmetic happens in each
parameter's own dtype: hyper-parameters are cast to it (Keras casts them to the variable
dtype, and Python scalars such as ``1 - beta_1`` are formed in double precision first, then
cast, like JAX's weakly typed scalars), so float32 parameters stay float32 end to end and
agree with Keras float32 to about 1e-7 relative per step. One difference: Keras stores a
float learning rate as a ``floatx`` variable, so float64 parameters under Keras's default
float32 ``floatx`` see ``lr = float32(0.01)``; gdsim uses the exact ``0.01``.

**One step** (Keras's ``BaseOptimizer.apply``): the learning rate is evaluated at the
*current* ``iterations`` (a schedule sees 0 on the first step) -> gradients clipped
(``clipnorm`` per parameter, or ``global_clipnorm`` over all, or ``clipvalue``) ->
decoupled weight decay ``w <- w - w*weight_decay*lr`` -> the update rule ->
``iterations += 1``.

**Many runs at once.** Any hyper-parameter may be an array of shape ``S`` whose axes are the
leading "runs" axes of every parameter: it applies to a parameter of shape ``S + rest`` as if
trailing singleton axes were appended, so ``SGD(learning_rate=np.geomspace(1e-4, 1, 1000))``
advances params of shape ``(1000, d)`` -- 1,000 learning rates in one call, each run's
arithmetic identical to running it alone. The norms used by ``clipnorm``/``global_clipnorm``
are then taken per run (over the axes after the ``run_ndim`` leading ones).

**Friendlier than Keras where it costs nothing:** Python ints are accepted for every
hyper-parameter (Keras raises for ``SGD(momentum=0)`` and ``learning_rate=1``). Not supported:
``use_ema``, ``gradient_accumulation_steps``, ``loss_scale_factor`` and
``exclude_from_weight_decay`` (weight decay applies to every parameter).
"""

from __future__ import annotations

from gdsim import _validate
from gdsim.optim import equivalent, torch_form
from gdsim.optim.adagrad import Adagrad
from gdsim.optim.adam import Adam
from gdsim.optim.hyper import Hyper
from gdsim.optim.pipeline import Optimizer, Params
from gdsim.optim.rmsprop import RMSprop
from gdsim.optim.sgd import GD, SGD
from gdsim.optim.state import OptState

__all__ = ["Params", "Hyper", "OptState", "Optimizer", "SGD", "GD", "Adam", "RMSprop", "Adagrad",
           "get", "torch_form", "equivalent"]

_REGISTRY: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a Keras string name (case-insensitive; default hyper-parameters) or an
    :class:`Optimizer` instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"optimizer must be a name {sorted(_REGISTRY)} or an Optimizer, got "
                        f"{_validate.show(identifier)}")
    name = _validate.choice("optimizer", identifier.lower(), sorted(_REGISTRY))
    return _REGISTRY[name]()
