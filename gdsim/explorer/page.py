"""Assemble the explorer: gdsim's runs as data, the page's template, one HTML file.

``build_data`` runs the grid (one ``simulate.run`` per surface and optimizer) and returns the
JSON-ready payload; ``render`` puts it, the script and the style sheet into the template;
``write`` does both and writes the file atomically. The page's own files (``page.html``,
``explorer.js``, ``explorer.css``) are package data next to this module.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import gdsim
from gdsim import _io, _validate
from gdsim.explorer import grid as grid_module
from gdsim.explorer.encode import encode_float32

__all__ = ["FORMAT", "MAX_BYTES", "select_presets", "build_data", "render", "write"]

FORMAT = "gdsim.explorer/1"
#: The file must stay small enough to e-mail and to open instantly from a USB stick.
MAX_BYTES = 10_000_000


def select_presets(names: Sequence[str] | None) -> list[grid_module.Preset]:
    """The presets whose key or family is in ``names`` (None: all), in menu order.

    An unknown name raises ValueError naming ``--surface`` and listing the choices."""
    every = grid_module.presets()
    if names is None:
        return every
    names = _validate.sequence("names", names, "surface names")
    if not names:
        return every
    choices = sorted({p.family for p in every} | {p.key for p in every})
    for name in names:
        if not isinstance(name, str) or name not in choices:
            raise ValueError(f"--surface must be one of {', '.join(choices)} (comma-separated), "
                             f"got {name!r}")
    return [p for p in every if p.key in names or p.family in names]


def _formula(surface: Any) -> dict[str, Any]:
    """What the page needs to evaluate the surface itself (contours, hover, arrows)."""
    name = surface.name
    if name == "quadratic":
        return {"kind": name, "eigenvalues": surface.eigenvalues.tolist()}
    if name == "rosenbrock":
        return {"kind": name, "a": surface.a, "b": surface.b}
    if name == "double_well":
        return {"kind": name, "tilt": surface.tilt, "curvature_y": surface.curvature_y}
    return {"kind": name}


def _preset_data(preset: grid_module.Preset, grid: grid_module.Grid,
                 progress: Callable[[str], None]) -> dict[str, Any]:
    surface = preset.surface
    references = preset.references
    eigen = [np.linalg.eigvalsh(surface.hessian(point)).tolist() for point in references]
    runs, learning_rates = {}, {}
    for name in grid_module.OPTIMIZERS:
        trajectory = grid_module.simulate_preset(preset, name, grid)
        # (K, *runs, 2) -> (*runs, K, 2): each run's path is contiguous for the page.
        paths = np.ascontiguousarray(np.moveaxis(trajectory.params, 0, -2))
        runs[name] = {"shape": list(paths.shape), "data": encode_float32(paths)}
        learning_rates[name] = preset.learning_rates(name, grid).tolist()
    count = sum(int(np.prod(r["shape"][:-2])) for r in runs.values())
    progress(f"{preset.key}: {count} runs of {grid.steps} steps ({len(runs)} simulate.run calls)")
    lo, hi = preset.box
    out = {"key": preset.key, "family": preset.family, "label": preset.label, "note": preset.note,
           "formula": _formula(surface), "box": [lo.tolist(), hi.tolist()],
           "starts": preset.starts[:grid.starts].tolist(), "noiseUnit": preset.noise_unit,
           "references": references.tolist(), "eigenvalues": eigen,
           "minValue": float(surface.global_min_value) if len(surface.minima) else None,
           "criticalLr": preset.critical_lr, "learningRates": learning_rates, "runs": runs,
           "repr": repr(surface)}
    if preset.family == "double_well":
        emap = grid_module.escape_map(preset, grid)
        out["escapeMap"] = {key: value.tolist() if isinstance(value, np.ndarray) else value
                            for key, value in emap.items()}
        progress(f"{preset.key}: escape map {emap['escaped'].shape} x {emap['seeds']} seeds")
    return out


def _viridis(n: int = 16) -> list[str]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return ["#%02x%02x%02x" % tuple(int(round(255 * c)) for c in cmap(i / (n - 1))[:3])
            for i in range(n)]


def build_data(presets: Sequence[grid_module.Preset], quick: bool = False,
               progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """The page's payload: every preset's runs (base64 float32) and what the page shows."""
    from gdsim import plots

    grid = grid_module.grid_for(quick)
    return {
        "format": FORMAT, "gdsimVersion": gdsim.__version__, "quick": quick,
        "dtype": grid_module.DTYPE, "noiseRoot": grid_module.NOISE_ROOT,
        "optimizers": list(grid_module.OPTIMIZERS),
        "uses": {k: list(v) for k, v in grid_module.USES.items()},
        "adaptive": sorted(grid_module.ADAPTIVE),
        "grid": {"steps": grid.steps, "beta1": list(grid.beta1), "beta2": list(grid.beta2),
                 "noiseLevels": list(grid.noise_levels), "seeds": list(grid.seeds),
                 "noiseSettings": [list(s) for s in grid_module.noise_settings(grid)]},
        "colors": plots.COLORS, "optimizerStyle": plots.OPTIMIZER_STYLE, "viridis": _viridis(),
        "surfaces": [_preset_data(p, grid, progress) for p in presets],
    }


def _template(name: str) -> str:
    return resources.files("gdsim.explorer").joinpath(name).read_text(encoding="utf-8")


def render(data: dict[str, Any]) -> str:
    """The whole page as one string: template + style + script + data, nothing external."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = _template("page.html")
    for marker, text in (("/*__GDSIM_CSS__*/", _template("explorer.css")),
                         ("/*__GDSIM_JS__*/", _template("explorer.js")),
                         ("__GDSIM_DATA__", payload)):
        if page.count(marker) != 1:
            raise RuntimeError(f"page.html must hold the marker {marker} exactly once")
        page = page.replace(marker, text)
    return page


def write(out: str | os.PathLike, surfaces: Sequence[str] | None = None, quick: bool = False,
          progress: Callable[[str], None] = lambda line: None) -> Path:
    """Compute, assemble and atomically write the explorer to ``out``; returns the path."""
    # before the minutes of work: a blank name, a folder, a missing or read-only folder
    path = Path(_validate.writable_file("out", out))
    quick = _validate.boolean("quick", quick)
    chosen = select_presets(None if surfaces is None else _validate.sequence("surfaces", surfaces, "surface names"))
    html = render(build_data(chosen, quick=quick, progress=progress)).encode("utf-8")
    if len(html) >= MAX_BYTES:
        raise ValueError(f"the explorer would be {len(html) / 1e6:.1f} MB, over the "
                         f"{MAX_BYTES / 1e6:.0f} MB limit")
    _io.atomic_write(path, lambda handle: handle.write(html))
    return path
