"""Arrays in and out of the page: little-endian float32, base64 (about 5.3 bytes a number).

The page decodes with ``atob`` into a ``Float32Array``; :func:`decode_float32` is the same
decoding in Python, for the tests that check the page carries exactly gdsim's numbers.
"""

from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np

__all__ = ["encode_float32", "decode_float32"]


def encode_float32(values: Any) -> str:
    """``values`` (any shape) as base64 of its C-order little-endian float32 bytes.

    The values must already be float32 (or exactly representable): casting here would hide a
    rounding the page then shows as gdsim's."""
    array = np.asarray(values)
    if array.dtype != np.float32:
        raise TypeError(f"values must be float32 (the page stores float32), got {array.dtype}")
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def decode_float32(text: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`encode_float32`: a float32 array of ``shape``."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    array = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    expected = int(np.prod(shape, dtype=np.int64))
    if array.size != expected:
        raise ValueError(f"the data holds {array.size} numbers, the shape {tuple(shape)} needs "
                         f"{expected}")
    return array.reshape(tuple(shape))
