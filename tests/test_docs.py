"""The documentation site builds with warnings as errors: a small subset, the real config.

The subset is one gallery page (figure 05, run in quick mode by sphinx-gallery), one API page
and its backreferences, built with docs/conf.py (``-c docs``) from a temporary source folder.
The whole site is built the same way by ``sphinx-build -W -b html docs docs/_build/html``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
for module in ("sphinx", "sphinx_gallery", "myst_parser"):
    pytest.importorskip(module, reason="the docs extra is not installed: pip install -e '.[docs]'")

INDEX = """\
Subset
======

.. toctree::

   auto_examples/index
   api
"""

API = """\
``gdsim.optim``
===============

.. automodule:: gdsim.schedules
   :members: PolynomialDecay

.. minigallery:: gdsim.optim
"""


@pytest.mark.slow
def test_a_gallery_page_and_an_api_page_build_with_warnings_as_errors(tmp_path):
    source, out = tmp_path / "source", tmp_path / "html"
    source.mkdir()
    (source / "index.rst").write_text(INDEX)
    (source / "api.rst").write_text(API)
    env = dict(os.environ, GDSIM_DOCS_ONLY="/05_", MPLBACKEND="Agg")
    process = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-c", str(ROOT / "docs"),
         str(source), str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    page = (out / "auto_examples" / "05_momentum.html").read_text()
    assert "Momentum overshoots" in page                      # the docstring, as the text
    assert '<span class="nf">compute</span>' in page          # the code, highlighted
    assert '<img' in page and "05_momentum" in page           # the image the script wrote
    assert "05_momentum.py" in page and "Download" in page    # the download links
    api = (out / "api.html").read_text()
    assert "auto_examples/05_momentum.html" in api            # backreference to the example
    assert "PolynomialDecay" in api and 'class="math' in api  # its formula, for MathJax
