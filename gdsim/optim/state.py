"""Optimizer state: the step count and one slot array per parameter, saved as .npz (no pickle)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from gdsim import _io, _validate

__all__ = ["OptState"]


@dataclasses.dataclass
class OptState:
    """Optimizer state: completed steps and per-parameter slot arrays.

    Attributes:
        iterations: int64 0-d array, the number of completed steps (Keras
            ``optimizer.iterations``).
        slots: ``{slot name: [one array per parameter]}``, e.g. ``{"m": [...], "v": [...]}``
            for Adam; each array has its parameter's shape and dtype.
    """

    iterations: np.ndarray
    slots: dict[str, list[np.ndarray]]

    def to_arrays(self, prefix: str = "opt/") -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` view (``prefix + "iterations"``, ``prefix + "slot/i"``)."""
        out = {prefix + "iterations": np.asarray(self.iterations, dtype=np.int64)}
        for name, arrays in self.slots.items():
            for i, a in enumerate(arrays):
                out[f"{prefix}{name}/{i}"] = a
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "opt/") -> "OptState":
        """Inverse of :meth:`to_arrays`; keys not starting with ``prefix`` are ignored."""
        key = prefix + "iterations"
        if key not in arrays:
            raise ValueError(f"optimizer state arrays have no {key!r} entry")
        iterations = np.asarray(arrays[key])
        if iterations.shape != () or not np.issubdtype(iterations.dtype, np.integer):
            raise ValueError(f"{key} must be a 0-d integer array, got shape {iterations.shape} "
                             f"dtype {iterations.dtype}")
        found: dict[str, dict[int, np.ndarray]] = {}
        for name, value in arrays.items():
            if not name.startswith(prefix) or name == key:
                continue
            slot, sep, index = name[len(prefix):].rpartition("/")
            if not sep or not index.isdigit():
                raise ValueError(f"unrecognized optimizer state entry {name!r}")
            found.setdefault(slot, {})[int(index)] = np.asarray(value)
        slots = {}
        for slot, by_index in found.items():
            if sorted(by_index) != list(range(len(by_index))):
                raise ValueError(f"optimizer slot {slot!r} has non-contiguous indices {sorted(by_index)}")
            slots[slot] = [by_index[i] for i in range(len(by_index))]
        counts = {len(v) for v in slots.values()}
        if len(counts) > 1:
            raise ValueError(f"optimizer slots have different parameter counts: "
                             f"{ {k: len(v) for k, v in slots.items()} }")
        return cls(iterations=iterations.astype(np.int64), slots=slots)

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to ``path`` (.npz, no pickle) atomically: a reader sees the old
        file or the new one, never a torn write."""
        _io.save_npz(_validate.writable_file("path", path), self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OptState":
        """Read a state written by :meth:`save`; a truncated, corrupt or foreign file raises
        ``ValueError`` naming ``path``."""
        arrays = _io.load_npz(_validate.readable_file("path", path))
        try:
            return cls.from_arrays(arrays)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a gdsim optimizer state: {exc}") from None

    def __eq__(self, other: object) -> bool:  # dataclass eq would compare arrays ambiguously
        if not isinstance(other, OptState):
            return NotImplemented
        if int(self.iterations) != int(other.iterations) or self.slots.keys() != other.slots.keys():
            return False
        return all(len(self.slots[k]) == len(other.slots[k]) and
                   all(a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
                       for a, b in zip(self.slots[k], other.slots[k])) for k in self.slots)

    def check(self, owner: str, slot_names: tuple[str, ...], params: list[np.ndarray]) -> None:
        """Raise unless this state fits ``params`` and an optimizer needing ``slot_names``."""
        if set(self.slots) != set(slot_names):
            raise ValueError(f"state has slots {sorted(self.slots)} but {owner} with these "
                             f"hyper-parameters needs {sorted(slot_names)}")
        for name, arrays in self.slots.items():
            if len(arrays) != len(params):
                raise ValueError(f"state slot {name!r} has {len(arrays)} arrays but params has {len(params)}")
            for i, (a, p) in enumerate(zip(arrays, params)):
                if a.shape != p.shape:
                    raise ValueError(f"state slot {name!r}[{i}] has shape {a.shape} but params[{i}] "
                                     f"has shape {p.shape}")
