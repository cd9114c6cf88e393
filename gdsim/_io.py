"""Files are written atomically or not at all; .npz files are read without pickle.

A lecturer regenerating figures the night before class must never find a half-written PNG
or a truncated checkpoint: every writer here writes a temporary file in the target's own
directory, flushes and fsyncs it, then ``os.replace``-s it over the target (atomic on POSIX).
If anything fails, the temporary file is removed and the old target is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from typing import IO, Any, Callable, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit it replaces ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], mode: str = "wb") -> None:
    """Call ``write(handle)`` on a temporary file that then atomically becomes ``path``."""
    with atomic_open(path, mode) as handle:
        write(handle)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an .npz file atomically. Object arrays are refused (no pickle)."""
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; .npz files here never pickle")
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an .npz file, read with ``allow_pickle=False``.

    A truncated, corrupt or non-.npz file raises ``ValueError`` naming the path; the file is
    only read, never modified.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path!r}: truncated, corrupt or not an .npz file "
                         f"({exc})") from None


def json_value(value: Any) -> Any:
    """``value`` made strict JSON (RFC 8259), the one rule for everything gdsim writes as JSON.

    JSON has no inf or NaN, so every non-finite number becomes ``null`` (``None``); where it
    matters the payload says which it was (``first_inf_epoch``/``first_nan_epoch``). NumPy
    reads such a list back as floats with NaN in place: ``np.array(loss, dtype=float)``.
    NumPy scalars and arrays become Python numbers and lists; mappings get string keys.
    """
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_value(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    return value


def dumps_json(payload: Any, indent: int | None = 1) -> str:
    """``payload`` as strict JSON text (see :func:`json_value`); ``json.loads`` reads it back."""
    return json.dumps(json_value(payload), indent=indent, allow_nan=False)


def save_json(path: str | os.PathLike, payload: Any) -> None:
    """Write ``payload`` as strict JSON (:func:`json_value`: inf/NaN as ``null``) atomically."""
    text = dumps_json(payload) + "\n"
    atomic_write(path, lambda handle: handle.write(text), mode="w")


def ensure_folder(name: str, path: str | os.PathLike) -> str:
    """Create the output folder ``path`` (and its parents) if it is missing — the one rule for
    every output folder (``--out``, ``out_dir``); a path that is an existing file is refused
    with a ``ValueError`` naming ``name``."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a file, expected a folder (it is created if missing)")
    os.makedirs(path, exist_ok=True)
    return path


#: The metadata key each format offers for a free-text description (the numerics profile).
DESCRIPTION_KEY = {"png": "Description", "svg": "Description", "pdf": "Subject"}


def save_figure(figure: Any, path: str | os.PathLike, description: str | None = None,
                **savefig_kwargs: Any) -> None:
    """``figure.savefig`` atomically, with metadata fixed so the same figure gives the same
    bytes (no creation date or software version in PNG/SVG/PDF); ``description`` (e.g. the
    numerics profile) goes into the format's description field."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}.get(fmt, {})
    if description is not None and fmt in DESCRIPTION_KEY:
        metadata[DESCRIPTION_KEY[fmt]] = description
    atomic_write(path, lambda handle: figure.savefig(handle, format=fmt, metadata=metadata,
                                                     **savefig_kwargs))
