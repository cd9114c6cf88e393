"""One file format for saved run state: the checkpoints of ``simulate.run`` and ``Sequential.fit``.

A state file is an ``.npz`` written atomically (:func:`gdsim._io.save_npz`) and read with
``allow_pickle=False``. Next to the caller's arrays it holds four entries, the same for every
kind of run:

* ``format``     ``"gdsim.<kind>/<FORMAT_VERSION>"`` -- which writer made it;
* ``signature``  JSON: what the state belongs to (model and data, or the simulation's
                 fingerprint); a resumed run must have the same one;
* ``numerics``   the label of the numerics profile the state was computed under
                 (:func:`gdsim.numerics.label`); resuming under another profile warns once;
* ``rng``        JSON ``{name: bit-generator state}``, arrays tagged ``{"__ndarray__", "dtype"}``
                 -- any NumPy bit generator (PCG64 for runs and layers, MT19937 for a legacy
                 RandomState), restored exactly.

Reading never modifies the file, and a wrong or damaged file raises ``ValueError`` naming it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np

from gdsim import _io, numerics

FORMAT_VERSION = 2
_RESERVED = ("format", "signature", "numerics", "rng")


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


def write(path: str | os.PathLike, kind: str, signature: Mapping[str, Any],
          arrays: Mapping[str, np.ndarray],
          bit_generators: Mapping[str, np.random.BitGenerator]) -> None:
    """Save ``arrays`` with the signature, the numerics profile and every bit generator's
    state, atomically."""
    clash = [key for key in _RESERVED if key in arrays]
    if clash:
        raise ValueError(f"array names {clash} are reserved in gdsim state files")
    payload = {"format": np.array(f"gdsim.{kind}/{FORMAT_VERSION}"),
               "signature": np.array(json.dumps(dict(signature), sort_keys=True)),
               "numerics": np.array(numerics.label()),
               "rng": np.array(json.dumps({name: _encode(bg.state)
                                           for name, bg in bit_generators.items()}))}
    payload.update(arrays)
    _io.save_npz(path, payload)


def read(path: str | os.PathLike, kind: str, signature: Mapping[str, Any],
         mismatch: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the saved RNG states of a state file written by :func:`write` for a run
    with this ``signature``.

    Raises ``ValueError`` naming the path if the file is unreadable, of another kind or format
    version, or has another signature (``mismatch`` is the message then; default: the
    differing keys, saved and now). Warns (:class:`gdsim.numerics.NumericsWarning`, one line)
    if it was computed under another numerics profile than this process's.
    """
    name = repr(os.fspath(path))
    arrays = _io.load_npz(path)
    expected_format = f"gdsim.{kind}/{FORMAT_VERSION}"
    saved_format = str(arrays["format"]) if "format" in arrays else "an older gdsim format"
    if saved_format != expected_format:
        raise ValueError(f"{name} is not a current gdsim {kind} checkpoint: it is "
                         f"{saved_format}, expected {expected_format}")
    try:
        saved = json.loads(str(arrays["signature"]))
        streams = json.loads(str(arrays["rng"]))
        saved_profile = str(arrays["numerics"])
        if not isinstance(saved, dict) or not isinstance(streams, dict):
            raise ValueError("signature and rng must be JSON objects")
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{name} is incomplete or not a gdsim checkpoint ({exc})") from None
    expected = json.loads(json.dumps(dict(signature), sort_keys=True))  # lists, as saved
    differences = sorted(key for key in set(saved) | set(expected)
                         if saved.get(key) != expected.get(key))
    if differences:
        details = "; ".join(f"{key}: checkpoint {saved.get(key)!r}, now {expected.get(key)!r}"
                            for key in differences)
        raise ValueError(f"{name} {mismatch or f'does not belong to this run ({details})'}")
    numerics.check_same(saved_profile, f"checkpoint {name}")
    return ({key: value for key, value in arrays.items() if key not in _RESERVED},
            {key: _decode(value) for key, value in streams.items()})


def check_rngs(path: str | os.PathLike, states: Mapping[str, Any],
               bit_generators: Mapping[str, np.random.BitGenerator]) -> None:
    """Raise ``ValueError`` naming the file unless every saved state has a stream of this run
    and would be accepted by it -- tried on a scratch bit generator of the same type, so a
    bad state is found before anything of the run has been changed (loading is all or
    nothing)."""
    if set(states) != set(bit_generators):
        raise ValueError(f"checkpoint {os.fspath(path)!r} has random streams {sorted(states)}, "
                         f"this run has {sorted(bit_generators)}")
    for name, bit_generator in bit_generators.items():
        scratch = type(bit_generator)()
        try:
            scratch.state = states[name]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise ValueError(f"checkpoint {os.fspath(path)!r} has a damaged random state for "
                             f"{name!r} ({' '.join(str(exc).split())})") from None


def restore_rngs(path: str | os.PathLike, states: Mapping[str, Any],
                 bit_generators: Mapping[str, np.random.BitGenerator]) -> None:
    """Set each bit generator to its saved state (checked first with :func:`check_rngs`)."""
    check_rngs(path, states, bit_generators)
    for name, bit_generator in bit_generators.items():
        bit_generator.state = states[name]
