"""Training checkpoints: everything ``fit`` needs to continue bit for bit, in one .npz file.

Saved at the end of every epoch (``fit(..., checkpoint=PATH)``), atomically:

* ``weights/<i>``      every weight in Keras's ``get_weights()`` order (BatchNorm moving
                       statistics included);
* ``opt/...``          the optimizer state (iterations and slots) and its configuration;
* ``rng``              every random stream as JSON: each layer's Generator (dropout masks) and
                       the batch order's Generator / legacy RandomState;
* ``history/<key>``    the epoch logs so far, and ``epoch`` (completed epochs);
* ``signature``        what the checkpoint belongs to -- layer types and weight shapes, the
                       optimizer, the number of samples, batch size and shuffle mode -- so that
                       resuming a different model or data is refused with a clear message.

Loading never unpickles (``allow_pickle=False``) and never modifies the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from gdsim import _io

FORMAT_VERSION = 1


def _encode(state: Any) -> Any:
    """Make a bit-generator state JSON-able (arrays become tagged lists)."""
    if isinstance(state, dict):
        return {key: _encode(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return {"__ndarray__": state.tolist(), "dtype": state.dtype.str}
    if isinstance(state, np.generic):
        return state.item()
    return state


def _decode(state: Any) -> Any:
    if isinstance(state, dict):
        if "__ndarray__" in state:
            return np.array(state["__ndarray__"], dtype=state["dtype"])
        return {key: _decode(value) for key, value in state.items()}
    return state


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


def signature(model: Any, order: Any) -> dict[str, Any]:
    return {"format": FORMAT_VERSION,
            "layers": [type(layer).__name__ for layer in model.layers],
            "weight_shapes": [list(np.shape(w)) for w in model.get_weights()],
            "dtype": model.dtype.name,
            "optimizer": {"class": type(model.optimizer).__name__,
                          "config": {k: repr(v) for k, v in model.optimizer.get_config().items()}},
            "samples": order.n, "batch_size": order.batch_size, "shuffle": order.mode}


def save(path: str | os.PathLike, model: Any, order: Any, history: Any, epoch: int) -> None:
    """Write the full training state after ``epoch`` completed epochs, atomically."""
    arrays: dict[str, np.ndarray] = {
        "signature": np.array(json.dumps(signature(model, order))),
        "epoch": np.array(epoch, dtype=np.int64),
        "rng": np.array(json.dumps({name: _encode(bit_generator.state) for name, bit_generator
                                    in _generators(model, order).items()})),
    }
    arrays.update({f"weights/{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update(model.optimizer_state.to_arrays(prefix="opt/"))
    arrays.update({f"history/{key}": np.array(values, dtype=np.float64)
                   for key, values in history.history.items()})
    _io.save_npz(path, arrays)


def load(path: str | os.PathLike, model: Any, order: Any, history: Any) -> int:
    """Restore the state saved by ``save`` into ``model``, ``order`` and ``history``.

    Returns the number of completed epochs. Raises ``ValueError`` naming the path when the file
    is unreadable or belongs to another model, optimizer or data set; nothing is changed then.
    """
    from gdsim.optim import OptState

    arrays = _io.load_npz(path)
    try:
        saved = json.loads(str(arrays["signature"]))
        epoch = int(arrays["epoch"])
        streams = json.loads(str(arrays["rng"]))
        weights = [arrays[f"weights/{i}"] for i in range(len(saved["weight_shapes"]))]
        state = OptState.from_arrays(arrays, prefix="opt/")
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"checkpoint {os.fspath(path)!r} is incomplete or not a gdsim "
                         f"checkpoint ({exc})") from None
    expected = signature(model, order)
    differences = [key for key in expected if saved.get(key) != expected[key]]
    if differences:
        details = "; ".join(f"{key}: checkpoint {saved.get(key)!r}, now {expected[key]!r}"
                            for key in differences)
        raise ValueError(f"checkpoint {os.fspath(path)!r} does not belong to this run ({details})")
    generators = _generators(model, order)
    if set(streams) != set(generators):
        raise ValueError(f"checkpoint {os.fspath(path)!r} has random streams {sorted(streams)}, "
                         f"this run has {sorted(generators)}")
    model.set_weights(weights)
    model.optimizer_state = state
    for name, bit_generator in generators.items():
        bit_generator.state = _decode(streams[name])
    history.history = {key[len("history/"):]: arrays[key].tolist()
                       for key in arrays if key.startswith("history/")}
    history.epoch = list(range(epoch))
    return epoch
