"""The lecture figures: find, describe and run the figure scripts in ``gdsim/gallery/``.

Each figure is one textbook-style script ``gdsim/gallery/NN_name.py`` (set-up, run, plot, read
top to bottom) with ``compute(quick=False) -> dict`` (the data the figure's claim rests on,
which the tests assert on) and ``main(out_dir=..., quick=False) -> list[Path]`` (the images
written).
This module is what ``gdsim figures`` calls::

    names()                         -> ["divergence", "stability", ...]
    describe("divergence")          -> one line
    make("divergence", "out/")      -> [out/01_divergence.png, out/01_divergence.svg]
    make("escape_animation", "out/") -> [out/08_escape_animation.gif]
    make_all("out/", quick=True)    -> every figure, reduced sizes (seconds each)

The scripts ship inside the package (``gdsim.gallery``), so a plain ``pip install`` runs
them. They are loaded by path: a module name may not start with a digit, and the numbers keep
the lecture order (in the folder and in the documentation's gallery). Each script also runs on
its own, ``python -m gdsim.gallery.01_divergence --quick --out DIR``. The committed images live
in the repository's ``figures/``, which :func:`default_out_dir` picks in a source checkout.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Iterable

from gdsim import _io, _validate

__all__ = ["names", "describe", "make", "make_all", "script_path", "scripts_dir", "default_out_dir",
           "load", "cli"]

#: Figure name -> script file name, in lecture order.
SCRIPTS = {
    "divergence": "01_divergence.py",
    "stability": "02_stability.py",
    "noise_escape": "03_noise_escape.py",
    "surfaces": "04_surfaces.py",
    "momentum": "05_momentum.py",
    "adam": "06_adam.py",
    "minibatch": "07_minibatch.py",
    "escape_animation": "08_escape_animation.py",
    # The "validation loss sometimes spikes" question (issue 5): the seed's CNN run and the
    # four experiments that take its answer apart. Full mode trains CNNs for many minutes.
    "cnn_training_curves": "09_cnn_training_curves.py",
    "minibatch_noise_cnn": "10_minibatch_noise_cnn.py",
    "validation_sample_size": "11_validation_sample_size.py",
    "batchnorm_dropout": "12_batchnorm_dropout.py",
    "step_size_cnn": "13_step_size_cnn.py",
    # Keras's and PyTorch's forms of the same optimizers (issue 17).
    "same_name_different_numbers": "14_same_name_different_numbers.py",
    # The edge of stability (issue 13): sharpness against 2/eta for GD, 38/eta for Adam.
    "edge_of_stability": "15_edge_of_stability.py",
    "adam_edge_of_stability": "16_adam_edge_of_stability.py",
}


def scripts_dir() -> Path:
    """The folder of the figure scripts, ``gdsim/gallery/`` inside the installed package."""
    here = Path(__file__).resolve().parent / "gallery"
    if not (here / SCRIPTS["divergence"]).is_file():
        raise FileNotFoundError(f"the figure scripts were not found in {here}: this gdsim "
                                f"installation is incomplete (reinstall it)")
    return here


def default_out_dir(quick: bool = False) -> Path:
    """Where figures go when no folder is given: the repository's ``figures/`` (the committed
    images) in a source checkout, else ``./gdsim-figures``; ``quick`` drafts go to its
    ``quick/`` subfolder and never overwrite the committed images."""
    repository = Path(__file__).resolve().parent.parent / "figures"
    base = repository if (repository / "01_divergence.png").is_file() else Path("gdsim-figures")
    return base / "quick" if quick else base


def names() -> list[str]:
    """Figure names in lecture order."""
    return list(SCRIPTS)


def script_path(name: str) -> Path:
    """Path of the script that makes figure ``name``."""
    name = _validate.choice("figure", name, names())
    return scripts_dir() / SCRIPTS[name]


def describe(name: str) -> str:
    """One line: the first line of the script's docstring (read without running it)."""
    path = script_path(name)
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return (doc or "").strip().splitlines()[0] if doc else name


def load(name: str) -> ModuleType:
    """Import figure ``name``'s script by path (a fresh module each call)."""
    path = script_path(name)
    spec = importlib.util.spec_from_file_location(f"gdsim_figure_{name}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for exotic importers
        raise ImportError(f"cannot import the figure script {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(name: str, out_dir: str | os.PathLike, quick: bool = False) -> list[Path]:
    """Run figure ``name``'s script; returns the image paths written into ``out_dir``.

    ``quick=True`` uses reduced sizes (fewer runs, steps and grid points: seconds per figure);
    the claims still hold, the pictures are coarser.
    """
    quick = _validate.boolean("quick", quick)
    _validate.choice("figure", name, names())  # before out_dir is created
    out = Path(_io.ensure_folder("out_dir", out_dir))
    return [Path(p) for p in load(name).main(out_dir=out, quick=quick)]


def make_all(out_dir: str | os.PathLike, only: str | Iterable[str] | None = None,
             quick: bool = False) -> list[Path]:
    """Make every figure (or only the named ones, in lecture order); all paths written."""
    if only is None:
        chosen = names()
    else:
        wanted = [only] if isinstance(only, str) else list(only)
        for name in wanted:
            _validate.choice("figure", name, names())
        chosen = [n for n in names() if n in wanted]
    paths: list[Path] = []
    for name in chosen:
        paths += make(name, out_dir, quick=quick)
    return paths


def cli(main, argv: list[str] | None = None) -> list[Path]:
    """The command line every figure script shares: ``python -m gdsim.gallery.NN_name [--out
    DIR] [--quick] [--native-kernels]``; prints the paths written (default folder:
    :func:`default_out_dir`). (The script has already chosen its numerics profile with
    :func:`gdsim.numerics.pin_for` before NumPy loaded.)"""
    import argparse

    parser = argparse.ArgumentParser(description=(main.__module__ or "figure script"),
                                     allow_abbrev=False)  # --native alone would not pin the profile
    parser.add_argument("--out", default=None, help="output folder, created if missing "
                                                    "(default: figures/ or figures/quick/)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes, seconds per figure")
    parser.add_argument("--native-kernels", action="store_true",
                        help="this machine's own kernels (results machine-specific) instead of "
                             "the portable numerics profile")
    args = parser.parse_args(argv)
    out = default_out_dir(args.quick) if args.out is None else Path(args.out)
    _io.ensure_folder("--out", out)
    paths = [Path(p) for p in main(out_dir=out, quick=args.quick)]
    for path in paths:
        print(path)
    return paths
