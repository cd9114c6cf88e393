"""The core never imports the case studies: ``gdsim.studies`` sits on top, data flows one way.

Every module of the ``gdsim`` package outside ``gdsim/studies/`` is parsed (not imported, so
an import inside a function counts as much as one at the top) and each ``import`` /
``from ... import`` is resolved to an absolute module name, relative imports included. Only
``gdsim/cli.py``, the command line that runs the studies, may import them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gdsim"
#: Modules (or packages, with everything under them) that sit above the studies and may run
#: them: the command line (``gdsim reproduce`` / ``regression`` / ``analyze``).
ABOVE_THE_STUDIES = ("gdsim.cli", "gdsim.gallery")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """Absolute names of every module ``path`` imports (``from a import b`` gives a and a.b:
    b may be a submodule)."""
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_study(module: str) -> bool:
    return within(module, "gdsim.studies")


CORE = sorted(p for p in PACKAGE.rglob("*.py")
              if not is_study(module_name(p))
              and not any(within(module_name(p), top) for top in ABOVE_THE_STUDIES))


def test_the_core_is_every_module_but_the_studies_the_cli_and_the_gallery():
    names = {module_name(p) for p in CORE}
    assert {"gdsim", "gdsim.optim", "gdsim.analysis", "gdsim.datasets", "gdsim.nn.model",
            "gdsim.plots", "gdsim.keras_bridge", "gdsim.figures"} <= names
    assert not any(is_study(n) for n in names) and len(names) > 20


@pytest.mark.parametrize("path", CORE, ids=lambda p: module_name(p))
def test_core_module_imports_nothing_from_the_studies(path):
    offending = sorted(m for m in imported_modules(path) if is_study(m))
    assert not offending, f"{module_name(path)} imports {offending}"


def test_the_check_sees_every_spelling_of_an_import(tmp_path):
    """The resolver catches absolute, from-package, relative and function-local imports."""
    fake = tmp_path / "gdsim"
    (fake / "nn").mkdir(parents=True)
    spellings = {"a.py": "import gdsim.studies.cnn.model\n",
                 "b.py": "from gdsim import studies\n",
                 "nn/c.py": "def f():\n    from ..studies.xs_ys import regression\n",
                 "nn/d.py": "from .. import studies as s\n"}
    for relative, code in spellings.items():
        (fake / relative).write_text(code)
        assert any(is_study(m) for m in imported_modules(fake / relative, fake)), relative
    (fake / "e.py").write_text("from gdsim import spikes\nimport numpy as np\n")
    assert not any(is_study(m) for m in imported_modules(fake / "e.py", fake))
