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
import shutil
import tempfile
import zipfile
from typing import IO, Any, Callable, Iterator

import numpy as np


def temp_prefix(path: str) -> str:
    """Temporary files for ``path`` are ``.tmp-<name>.<pid>.<random><ext>`` beside it: the
    name says which target they belong to and the pid which process writes them, so that one
    left by a killed process can be told from one being written right now."""
    return f".tmp-{os.path.basename(path)}.{os.getpid()}."


def remove_orphans(path: str | os.PathLike) -> list[str]:
    """Delete the temporary files of ``path`` left by processes that no longer run (a
    ``kill -9`` during a save); a live process's are left alone. Returns the names removed.
    Called before every atomic write and when a run resumes, so orphans never pile up."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    stem = f".tmp-{os.path.basename(path)}."
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(stem):
            continue
        pid_text = name[len(stem):].split(".", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie (killed, not yet reaped by its parent)
    writes nothing more: it counts as dead, so its temporaries go at once."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process: not ours to judge
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (command) state ...": the command may hold spaces or parentheses
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal probe's answer stands


def _temporary_beside(path: str) -> tuple[int, str, str]:
    """``(fd, temporary path, folder)``: a fresh temporary next to ``path`` (orphans of dead
    writers to the same target removed first), with the mode a plain open() would give."""
    directory = os.path.dirname(os.path.abspath(path))
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=os.path.splitext(path)[1],
                               dir=directory)
    # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp, directory


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit it replaces ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    fd, tmp, directory = _temporary_beside(path)
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
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a .npy array or a memmap
            raise ValueError("a single .npy array, not an .npz archive")
        with data:
            return {name: data[name] for name in data.files}
    except (FileNotFoundError, IsADirectoryError):
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError,
            TypeError, RuntimeError, OverflowError, MemoryError) as exc:
        # NotImplementedError: a zip entry with an unsupported flag (encryption, compression)
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
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise TypeError(f"{name} must be a folder path (a str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{name} must name a folder, got {path!r}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a file, expected a folder (it is created if missing)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:  # a read-only place, a file on the way, a name too long
        raise ValueError(f"{name} {path!r}: cannot create this folder "
                         f"({exc.strerror or exc})") from None
    return path


#: The metadata key each format offers for a free-text description (the numerics profile).
DESCRIPTION_KEY = {"png": "Description", "svg": "Description", "pdf": "Subject"}


def figure_writer(figure: Any, path: str | os.PathLike, description: str | None,
                   savefig_kwargs: dict) -> Callable[[IO], Any]:
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}.get(fmt, {})
    if description is not None and fmt in DESCRIPTION_KEY:
        metadata[DESCRIPTION_KEY[fmt]] = description
    return lambda handle: figure.savefig(handle, format=fmt, metadata=metadata, **savefig_kwargs)


def atomic_write_all(writes: list[tuple[str | os.PathLike, Callable[[IO], Any]]]) -> None:
    """Write several files as one: every ``write(handle)`` goes to a temporary file first
    (fsynced); only when all succeeded are they renamed over their targets. If a write fails
    (a full disk) no target is touched; if a rename fails, the targets already replaced get
    their old bytes back. Either way the error names the file and no temporary is left: a
    figure's PNG and SVG are always from the same run."""
    staged: list[tuple[str, str]] = []  # (temporary, target)
    backups: list[tuple[str, str | None]] = []  # (target, its old bytes' backup or None)
    try:
        for path, write in writes:
            path = os.fspath(path)
            fd, tmp, _ = _temporary_beside(path)
            staged.append((tmp, path))
            try:
                with os.fdopen(fd, "wb") as handle:
                    write(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write {path!r}: {exc.strerror or exc}") from None
        for tmp, path in staged:
            backup = None
            if os.path.exists(path):
                backup = tmp + ".old"
                try:
                    os.link(path, backup)  # the old bytes, kept under a name of ours
                except OSError:
                    shutil.copy2(path, backup)
            backups.append((path, backup))
            os.replace(tmp, path)
        for path, backup in backups:
            if backup is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(backup)
        for directory in {os.path.dirname(os.path.abspath(p)) for _, p in staged}:
            _fsync_directory(directory)
    except BaseException:
        for path, backup in reversed(backups):  # roll back what was already replaced
            if backup is not None and os.path.exists(backup):
                with contextlib.suppress(OSError):
                    os.replace(backup, path)
        for tmp, _ in staged:
            for name in (tmp, tmp + ".old"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        raise

