"""Training checkpoints: everything ``fit`` needs to continue bit for bit, in one .npz file.

Saved at the end of every epoch (``fit(..., checkpoint=PATH)``) in gdsim's one state-file
format (:mod:`gdsim._statefile`: atomic, never pickled, RNG states, signature, numerics
profile), kind ``"fit"``:

* ``weights/<i>``      every weight in Keras's ``get_weights()`` order (BatchNorm moving
                       statistics included);
* ``opt/...``          the optimizer state (iterations and slots) and its configuration;
* ``rng``              every random stream: each layer's Generator (dropout masks) and the
                       batch order's Generator / legacy RandomState;
* ``history/<key>``    the epoch logs so far, and ``epoch`` (completed epochs);
* ``signature``        what the checkpoint belongs to -- layer types and weight shapes, the
                       optimizer, the number of samples, batch size and shuffle mode -- so that
                       resuming a different model or data is refused with a clear message.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gdsim import _statefile


def _generators(model: Any, order: Any) -> dict[str, Any]:
    """Every random stream of a training run, by a stable name."""
    streams = {}
    for index, layer in enumerate(model.layers):
        for attribute, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                streams[f"layer{index}.{attribute}"] = value.bit_generator
    if isinstance(order.stream, np.random.Generator):
        streams["order"] = order.stream.bit_generator
    elif isinstance(order.stream, np.random.RandomState):
        streams["order"] = order.stream._bit_generator  # noqa: SLF001 - where its state lives
    return streams


def _architecture(layer: Any) -> dict[str, str]:
    """A layer's type and configuration (its name aside): Dropout(0.25) and Dropout(0.0)
    differ, so a checkpoint of ``seed_cnn(dropout=False)`` never resumes into the dropout
    model."""
    config = {key: repr(value) for key, value in layer.get_config().items() if key != "name"}
    return {"class": type(layer).__name__, **config}


def signature(model: Any, order: Any) -> dict[str, Any]:
    """What a checkpoint belongs to: the architecture (every layer's configuration), the
    optimizer, the data's size, the batch size, the shuffle mode and fit's ``seed`` (a resume
    with another seed is refused, not silently given the saved batch order)."""
    return {"layers": [_architecture(layer) for layer in model.layers],
            "seed": getattr(order, "seed", None),
            "weight_shapes": [list(np.shape(w)) for w in model.get_weights()],
            "dtype": model.dtype.name,
            "optimizer": {"class": type(model.optimizer).__name__,
                          "config": {k: repr(v) for k, v in model.optimizer.get_config().items()}},
            "samples": order.n, "batch_size": order.batch_size, "shuffle": order.mode}


def save(path: str | os.PathLike, model: Any, order: Any, history: Any, epoch: int) -> None:
    """Write the full training state after ``epoch`` completed epochs, atomically."""
    arrays: dict[str, np.ndarray] = {"epoch": np.array(epoch, dtype=np.int64)}
    arrays.update({f"weights/{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update(model.optimizer_state.to_arrays(prefix="opt/"))
    arrays.update({f"history/{key}": np.array(values, dtype=np.float64)
                   for key, values in history.history.items()})
    _statefile.write(path, "fit", signature(model, order), arrays, _generators(model, order))


def load(path: str | os.PathLike, model: Any, order: Any, history: Any) -> int:
    """Restore the state saved by ``save`` into ``model``, ``order`` and ``history``.

    Returns the number of completed epochs. Raises ``ValueError`` naming the path when the file
    is unreadable or belongs to another model, optimizer or data set; nothing is changed then.
    """
    from gdsim.optim import OptState

    arrays, streams = _statefile.read(path, "fit", signature(model, order))
    generators = _generators(model, order)
    # Everything is checked before anything is installed: a damaged entry leaves the model,
    # its optimizer state and every random stream as they were.
    try:
        epoch = int(arrays["epoch"])
        current = model.get_weights()
        weights = [arrays[f"weights/{i}"] for i in range(len(current))]
        for i, (saved, now) in enumerate(zip(weights, current)):
            if saved.shape != now.shape or saved.dtype != now.dtype:
                raise ValueError(f"weights/{i} is {saved.dtype}{list(saved.shape)}, the model's "
                                 f"is {now.dtype}{list(now.shape)}")
        state = OptState.from_arrays(arrays, prefix="opt/")
        if not 0 <= epoch or int(state.iterations) < 0:
            raise ValueError(f"epoch {epoch} / iterations {int(state.iterations)} out of range")
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"checkpoint {os.fspath(path)!r} is incomplete or not a gdsim "
                         f"checkpoint ({' '.join(str(exc).split())})") from None
    _statefile.check_rngs(path, streams, generators)
    _statefile.restore_rngs(path, streams, generators)
    model.set_weights(weights)
    model.optimizer_state = state
    history.history = {key[len("history/"):]: arrays[key].tolist()
                       for key in arrays if key.startswith("history/")}
    history.epoch = list(range(epoch))
    return epoch
