"""Sphinx configuration of gdsim's documentation site.

Build it (offline; warnings are errors)::

    pip install -e '.[docs]'
    sphinx-build -W -b html docs docs/_build/html

The gallery pages are made by sphinx-gallery from the figure scripts in ``gdsim/gallery/``:
each script runs once in quick mode (``--quick --out <temporary folder>``), and its page shows
the script's docstring, its code, the image it wrote and download links (.py and .ipynb).
The API reference is autodoc over the docstrings; each API page lists the gallery examples
that use the module (sphinx-gallery backreferences). Set ``GDSIM_DOCS_ONLY`` to a regular
expression to run only the matching scripts (a quick partial build, as tests/test_docs.py
does).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document the checkout, not an older installed gdsim
os.environ.setdefault("MPLBACKEND", "Agg")

import gdsim  # noqa: E402
from gdsim import numerics  # noqa: E402

# The gallery's numbers under the portable profile, as `gdsim figures` computes them (this
# must happen before anything imports NumPy; sphinx itself does not).
NUMERICS = numerics.pin_for([])

project = "gdsim"
author = "the gdsim authors"
copyright = "gdsim authors, MIT licence"
release = version = gdsim.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",     # the docstrings' "Args:" / "Returns:" sections
    "sphinx.ext.mathjax",      # :math: in docstrings; MathJax loads in the reader's browser
    "sphinx.ext.viewcode",
    "myst_parser",             # the README and docs/*.md
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"gdsim {release}"
smartquotes = False  # `--quick` stays two hyphens, as typed in a shell
myst_heading_anchors = 3
suppress_warnings = [
    "myst.header",     # the README's heading levels are GitHub's, not a book's
    "config.cache",    # sphinx_gallery_conf holds functions: rebuilt every time, which is fine
]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_ivar = True   # dataclass fields: listed once, not twice

# ---------------------------------------------------------------- the figure gallery
IMAGES = Path(tempfile.mkdtemp(prefix="gdsim-docs-"))


def _quick_argv(gallery_conf, script_vars) -> list[str]:
    """Each figure script runs as `python NN_name.py --quick --out <its own folder>`."""
    return ["--quick", "--out", str(IMAGES / Path(script_vars["src_file"]).stem)]


def _written_images(block, block_vars, gallery_conf) -> str:
    """sphinx-gallery image scraper: the PNG/GIF files the script wrote (gdsim's figures are
    matplotlib Figures outside pyplot, saved by gdsim.plots, so the default scraper sees
    nothing). Each is copied to where sphinx-gallery keeps the example's images."""
    from sphinx_gallery.scrapers import figure_rst

    folder = IMAGES / Path(block_vars["src_file"]).stem
    written = sorted(p for p in folder.glob("*") if p.suffix in (".png", ".gif")) \
        if folder.is_dir() else []
    paths = []
    for source in written:
        target = Path(next(block_vars["image_path_iterator"])).with_suffix(source.suffix)
        shutil.copyfile(source, target)
        paths.append(str(target))
    return figure_rst(paths, gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "gdsim" / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": os.environ.get("GDSIM_DOCS_ONLY", r"/\d\d_"),
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",   # lecture order: 01, 02, ...
    "reset_argv": _quick_argv,
    "image_scrapers": (_written_images,),
    "reset_modules": (),
    "doc_module": ("gdsim",),
    "prefer_full_module": {r"gdsim\."},  # gdsim.optim.SGD, never a shortened name
    "backreferences_dir": "gen_modules/backreferences",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "write_computation_times": False,
    "show_signature": False,
}


# ---------------------------------------------------------------- docstrings as reStructuredText
_STARRED_SHAPE = re.compile(r"(?<![\\`])\*(?=[A-Za-z_])")


def _plain_shapes(app, what, name, obj, options, lines) -> None:
    """gdsim's docstrings write array shapes as ``(*runs, d)``; reStructuredText would read that
    star as the start of an emphasis. Escape a star that directly precedes a name."""
    parts = "\n".join(lines).split("``")  # odd parts are inline literals: leave those alone
    text = "``".join(_STARRED_SHAPE.sub(r"\\*", part) if i % 2 == 0 else part
                     for i, part in enumerate(parts))
    lines[:] = _indent_literal_blocks(text.split("\n"))


def _indent_literal_blocks(lines: list[str]) -> list[str]:
    """A docstring whose first line ends in ``::`` and whose code is indented as deep as the
    rest loses that indentation when autodoc dedents it; indent such a block back."""
    out, index = [], 0
    while index < len(lines):
        out.append(lines[index])
        if lines[index].rstrip().endswith("::"):
            index += 1
            while index < len(lines) and not lines[index].strip():
                out.append(lines[index])
                index += 1
            if index < len(lines) and not lines[index][:1].isspace():
                while index < len(lines) and lines[index].strip():
                    out.append("    " + lines[index])
                    index += 1
            continue
        index += 1
    return out


_MODULE_GALLERY = re.compile(r"^\.\. minigallery:: (gdsim[\w.]*)$", re.M)


def _module_minigallery(app, docname, source) -> None:
    """``.. minigallery:: gdsim.optim`` lists the examples that use any public name of the
    module: sphinx-gallery records uses per class and function, so the directive is expanded
    to all of them (read from the module, so the list never goes stale)."""
    import importlib
    import inspect

    def names(match):
        module = importlib.import_module(match.group(1))
        public = getattr(module, "__all__", None) or [n for n in vars(module)
                                                      if not n.startswith("_")]
        objects = [getattr(module, n, None) for n in public]
        # Uses are recorded under each object's own module (a package re-exports its parts).
        used = sorted({f"{obj.__module__}.{obj.__qualname__}" for obj in objects
                       if (inspect.isclass(obj) or inspect.isfunction(obj))
                       and obj.__module__.startswith(module.__name__)})
        return ".. minigallery:: " + " ".join(used)

    source[0] = _MODULE_GALLERY.sub(names, source[0])


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _plain_shapes)
    app.connect("source-read", _module_minigallery)
