"""The numerics profile: which machine kernels a process computes with, and the portable one.

A run is bit-reproducible from its seed on one machine. Across machines two things choose
different code paths by processor and change the last bits of results:

* **OpenBLAS** (NumPy's bundled BLAS) picks its GEMM kernels by CPU: ``SkylakeX`` on an
  AVX-512 Intel, ``Haswell`` on AVX2 machines and on AMD Zen. Every matmul of a network
  depends on it (the seed CNN's first epoch loss: 1.1429682 with SkylakeX, 1.1432540 with
  Haswell kernels).
* **NumPy's own SIMD dispatch** picks AVX-512 (``X86_V4``) loops where the CPU has them, and
  their results differ in the last bit from the AVX2 (``X86_V3``) loops (measured with NumPy
  2.4: float64 ``exp`` and ``log``, and ``power``, ``expm1``, ``log1p``, ``sinh``, ``cosh``,
  ``arctan`` in float64 and float32 change their bits; ``tanh``, ``sin``, ``cos`` and float32
  ``exp``/``log`` do not). Adam's float64 bias correction ``beta ** t`` is one of them.

The **portable profile** uses what every x86-64 machine with AVX2 runs: OpenBLAS's
``Haswell`` kernels and NumPy's loops up to ``X86_V3``. Both are chosen when the libraries
load, so they can only be set *before NumPy is imported*: :func:`pin` does that, and the
``gdsim`` command, ``python -m gdsim`` and the figure scripts call it first. It is the default;
``GDSIM_NUMERICS=native`` (or ``gdsim --native-kernels ...``) keeps the machine's own kernels,
faster on AVX-512 machines, and results are then marked machine-specific.

Imported into a process that has already loaded NumPy (a notebook, pytest), gdsim cannot pin
anything; :func:`profile` reports what is active, asking OpenBLAS itself (``get_corename``
through ``ctypes``) and NumPy (``__cpu_features__``). Bits are promised equal only for the
same NumPy and OpenBLAS versions.

This module imports NumPy only inside :func:`profile`, so that it can run before NumPy loads.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Any

__all__ = ["ENV_VAR", "NATIVE_FLAG", "PORTABLE_BLAS_CORE", "pin", "pin_for", "requested_native",
           "profile", "label", "record", "stamp", "csv_header", "check_same", "NumericsWarning"]

#: ``GDSIM_NUMERICS=native`` keeps the machine's kernels; unset or ``portable``: the default.
ENV_VAR = "GDSIM_NUMERICS"
#: The command-line opt-out (``gdsim --native-kernels reproduce``).
NATIVE_FLAG = "--native-kernels"
#: The OpenBLAS kernel family of the portable profile (runs on every x86-64 CPU with AVX2).
PORTABLE_BLAS_CORE = "Haswell"
_X86 = ("x86_64", "amd64")
#: Names the environment variables :func:`pin` set, for child processes that opt out.
_PINNED = "GDSIM_PINNED"


class NumericsWarning(UserWarning):
    """Results computed (or resumed) under another numerics profile than they were saved with."""


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or ``None`` if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _numpy_disable_list() -> str:
    """NumPy's dispatch targets above X86_V3, by the names the installed NumPy uses (read from
    its metadata: NumPy itself must not be imported yet). NumPy 2.4 names microarchitecture
    levels; older versions name AVX-512 feature groups (a name the installed NumPy does not
    dispatch only draws an ImportWarning, which Python ignores by default)."""
    from importlib import metadata

    try:
        major, minor = (int(part) for part in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        major, minor = 2, 4
    if (major, minor) >= (2, 4):
        return "X86_V4 AVX512_ICL AVX512_SPR"
    return "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"


def requested_native(argv: list[str] | None = None) -> bool:
    """Whether native kernels were asked for: ``GDSIM_NUMERICS=native`` or ``--native-kernels``
    in ``argv``. Any other value of the variable than ``portable``/``native`` is a ValueError."""
    value = os.environ.get(ENV_VAR, "portable").strip().lower() or "portable"
    if value not in ("portable", "native"):
        raise ValueError(f"{ENV_VAR} must be 'portable' or 'native', got {value!r}")
    return value == "native" or (argv is not None and NATIVE_FLAG in argv)


def pin(native: bool = False) -> str:
    """Choose the portable kernels for this process; call it before NumPy is imported.

    Sets ``OPENBLAS_CORETYPE=Haswell`` and, on an AVX-512 machine, ``NPY_DISABLE_CPU_FEATURES``
    to NumPy's targets above X86_V3 (also for child processes, which inherit the environment).
    ``native=True`` sets ``GDSIM_NUMERICS=native`` and removes those two settings if a portable
    parent process made them (it lists them in ``GDSIM_PINNED``). Returns what
    happened, one line: ``"portable"``, ``"native"``, or why nothing could be pinned (NumPy
    already loaded, not an x86-64 CPU with AVX2).
    """
    if native:
        os.environ[ENV_VAR] = "native"
        # a portable parent's pins are inherited: undo those (a user's own settings stay)
        for name in os.environ.pop(_PINNED, "").split():
            os.environ.pop(name, None)
        return "native"
    if "numpy" in sys.modules:
        return "not pinned: NumPy was imported before gdsim.numerics.pin()"
    if platform.machine().lower() not in _X86:
        return f"not pinned: {platform.machine()} is not x86-64"
    flags = _cpu_flags()
    if flags is None:
        return "not pinned: the CPU's flags are unreadable (no /proc/cpuinfo)"
    if not {"avx2", "fma"} <= flags:
        return "not pinned: this CPU has no AVX2/FMA (the portable kernels need them)"
    os.environ["OPENBLAS_CORETYPE"] = PORTABLE_BLAS_CORE
    if "avx512f" in flags:
        os.environ["NPY_DISABLE_CPU_FEATURES"] = _numpy_disable_list()
    else:
        os.environ.pop("NPY_DISABLE_CPU_FEATURES", None)
    os.environ[_PINNED] = "OPENBLAS_CORETYPE NPY_DISABLE_CPU_FEATURES"
    os.environ.pop(ENV_VAR, None)
    return "portable"


def pin_for(argv: list[str] | None = None) -> str:
    """:func:`pin` as a command asks for it: native if ``GDSIM_NUMERICS=native`` or
    ``--native-kernels`` is among ``argv`` (default ``sys.argv[1:]``), else portable. The
    first lines of a script that computes numbers (the figure scripts do this)."""
    return pin(native=requested_native(sys.argv[1:] if argv is None else argv))


# --------------------------------------------------------------------------- detection
_OPENBLAS_PREFIXES = ("scipy_openblas_", "openblas_")
_OPENBLAS_SUFFIXES = ("64_", "")


def _openblas() -> tuple[dict[str, str | int | None], str | None]:
    """Core name, version and thread count from the OpenBLAS library this process loaded,
    plus ``None`` or the reason they could not be read."""
    from gdsim.nn import blas

    found: dict[str, str | int | None] = {"blas_core": "unknown", "openblas_version": "unknown",
                                          "blas_threads": blas.get_threads()}
    paths = blas._candidate_paths()  # noqa: SLF001 - one search for both modules
    if not paths:
        return found, "no OpenBLAS library is loaded (NumPy uses another BLAS?)"
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        functions = {}
        for name in ("get_corename", "get_config"):
            for symbol in (p + name + s for p in _OPENBLAS_PREFIXES for s in _OPENBLAS_SUFFIXES):
                if hasattr(library, symbol):
                    function = getattr(library, symbol)
                    function.argtypes, function.restype = [], ctypes.c_char_p
                    functions[name] = function().decode(errors="replace").strip()
                    break
        if "get_corename" in functions:
            found["blas_core"] = functions["get_corename"]
            config = functions.get("get_config", "").split()
            if len(config) > 1 and config[0] == "OpenBLAS":
                found["openblas_version"] = config[1]
            return found, None
    return found, f"no get_corename symbol in {', '.join(os.path.basename(p) for p in paths)}"


def _numpy_cpu() -> tuple[list[str], dict[str, bool]]:
    """NumPy's dispatched SIMD targets that are active in this process (in NumPy's order,
    lowest first), and its CPU feature detection."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [t for t in __cpu_dispatch__ if __cpu_features__.get(t)], dict(__cpu_features__)


def profile() -> dict[str, Any]:
    """The numerics profile of this process.

    Returns a dict:

    * ``portable`` (bool): the portable profile is active -- x86-64, OpenBLAS's Haswell
      kernels, no NumPy dispatch target above X86_V3 (AVX2);
    * ``kind``: ``"portable"`` or ``"native"`` (machine-specific results);
    * ``reason``: why it is not portable (``None`` when it is);
    * ``machine``, ``numpy_version``, ``openblas_version``, ``blas_core`` (OpenBLAS's own
      ``get_corename``; ``"unknown"`` with the reason if it cannot be read), ``blas_threads``;
    * ``numpy_simd``: NumPy's active dispatch targets; ``cpu_features``: the SIMD flags of the
      CPU (from /proc/cpuinfo, else NumPy's detection).
    """
    import numpy as np

    blas_info, blas_problem = _openblas()
    targets, detected = _numpy_cpu()
    flags = _cpu_flags()
    if flags is None:
        flags = {name.lower() for name, on in detected.items() if on}
    simd = sorted(f for f in flags if f.startswith(("avx", "fma", "sse", "neon", "asimd", "sve")))
    machine = platform.machine().lower()
    above_avx2 = [t for t in targets if t.startswith("AVX512") or t == "X86_V4"]
    if machine not in _X86:
        reason = f"{platform.machine()} is not x86-64"
    elif "avx2" not in flags:
        reason = "this CPU has no AVX2"
    elif blas_problem is not None:
        reason = blas_problem
    elif blas_info["blas_core"] != PORTABLE_BLAS_CORE:
        reason = (f"OpenBLAS uses its {blas_info['blas_core']} kernels, not "
                  f"{PORTABLE_BLAS_CORE}")
    elif above_avx2:
        reason = f"NumPy dispatches {' '.join(above_avx2)} loops"
    elif not {"X86_V3", "AVX2"} & set(targets):
        reason = "NumPy does not dispatch its AVX2 (X86_V3) loops"
    else:
        reason = None
    return {"portable": reason is None, "kind": "portable" if reason is None else "native",
            "reason": reason, "machine": machine, "numpy_version": np.__version__,
            **blas_info, "numpy_simd": targets, "cpu_features": simd}


_label: str | None = None


def label(info: dict[str, Any] | None = None) -> str:
    """One line naming a profile, the same on every machine that computes the same bits:
    ``"portable: x86_64, NumPy 2.4.6, OpenBLAS 0.3.31.188.0 Haswell kernels"``; native adds
    NumPy's highest SIMD target: ``"native (machine-specific): x86_64, NumPy 2.4.6 (SIMD up to
    AVX512_SPR), OpenBLAS 0.3.31.188.0 SkylakeX kernels"``. Without ``info``: this process's
    (it cannot change once NumPy is loaded, so it is looked up once)."""
    global _label
    if info is None:
        if _label is None:
            _label = label(profile())
        return _label
    if info["portable"]:
        kind, simd = "portable", ""  # portable means: up to X86_V3
    else:
        kind = "native (machine-specific)"
        simd = f" (SIMD up to {info['numpy_simd'][-1]})" if info["numpy_simd"] else ""
    return (f"{kind}: {info['machine']}, NumPy {info['numpy_version']}{simd}, OpenBLAS "
            f"{info['openblas_version']} {info['blas_core']} kernels")


def record() -> dict[str, Any]:
    """What saved result JSON carries: the profile plus its :func:`label` (checkpoints and
    figures carry the label alone)."""
    info = profile()
    return {"label": label(info), **info}


def stamp(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with this process's profile under ``"numerics"`` (saved result JSON)."""
    return {**payload, "numerics": record()}


def csv_header() -> str:
    """The comment line a saved CSV starts with: ``# gdsim numerics profile: <label>``
    (``pandas.read_csv(path, comment="#")`` skips it)."""
    return f"# gdsim numerics profile: {label()}\n"


def check_same(saved_label: str | None, what: str) -> None:
    """Warn, in one line naming both, if ``what`` was saved under another profile than this
    process's (``saved_label`` from :func:`label`; ``None``: saved before profiles existed)."""
    import warnings

    now = label()
    if saved_label != now:
        warnings.warn(f"{what} was saved under numerics profile [{saved_label or 'not recorded'}]"
                      f" and continues under [{now}]: the bits will differ from an unbroken run",
                      NumericsWarning, stacklevel=3)
