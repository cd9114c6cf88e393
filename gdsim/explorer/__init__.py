"""The offline interactive explorer: one self-contained HTML file over gdsim's own runs.

::

    gdsim explore --out explorer.html            # all surfaces, ~8 MB
    gdsim explore --quick --surface bowl         # fewer slider stops, seconds to build

    from gdsim import explorer
    explorer.write("explorer.html", surfaces=["bowl", "double_well"], quick=True)

The page (``page.html``, ``explorer.js``, ``explorer.css`` in this package) loads nothing
from anywhere: its data is embedded, its fonts are the system's, and a Content-Security-Policy
forbids every fetch. Every trajectory it draws is a slice of one :func:`gdsim.simulate.run`
call per surface and optimizer (:mod:`gdsim.explorer.grid`), stored as base64 float32
(:mod:`gdsim.explorer.encode`). The page says on itself what it computes (contour shading,
hover values, the gradient arrow and the loss curve from the surface's formula).

Lecturer features: the whole state is in the URL fragment (``#surface=bowl&kappa=10&opt=GD&
lr=1.96&...``, values snapped to the nearest stop), ``hide=noise,seed`` removes controls,
hover gives exact values, the keyboard steps (arrows, space, Home/End, [ ], o, s, n, m).

Test hook: ``window.gdsimExplorer`` with ``state()``, ``set({...})`` (the fragment's keys),
``trajectory()``, ``endPoint()``, ``stability()``, ``lastRedrawMs()``, ``redraw()``,
``surfaceValue(x, y)``.
"""

from gdsim.explorer.page import MAX_BYTES, build_data, render, select_presets, write

__all__ = ["write", "build_data", "render", "select_presets", "MAX_BYTES"]
