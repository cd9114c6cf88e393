"""``import gdsim`` stays light: no Keras, matplotlib or hypothesis until they are needed."""

import subprocess
import sys

HEAVY = ("keras", "jax", "tensorflow", "torch", "matplotlib", "hypothesis", "scipy")


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_import_gdsim_is_light():
    assert not modules_after("import gdsim") & set(HEAVY)


def test_the_engine_and_the_network_stack_need_only_numpy():
    loaded = modules_after("import gdsim.optim, gdsim.simulate, gdsim.surfaces, gdsim.nn.model, "
                           "gdsim.studies.cnn.model, gdsim.studies.xs_ys.regression, gdsim.cli")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_optim_imports_nothing_but_numpy_and_its_own_helpers():
    loaded = modules_after("import gdsim.optim")
    gdsim_modules = {m for m in subprocess.run(
        [sys.executable, "-c", "import sys, gdsim.optim; print(' '.join(m for m in sys.modules "
                               "if m.startswith('gdsim')))"],
        capture_output=True, text=True, check=True).stdout.split()}
    outside = {m for m in gdsim_modules if not m.startswith("gdsim.optim.")}
    assert outside <= {"gdsim", "gdsim.optim", "gdsim._validate", "gdsim._io"}, outside
    assert "numpy" in loaded


def test_submodules_are_reachable_from_the_package_and_load_on_first_use():
    loaded = modules_after("import gdsim; gdsim.optim.Adam(1e-3); gdsim.nn.Sequential")
    assert not loaded & set(HEAVY)
    code = ("import sys, gdsim; before = 'gdsim.optim' in sys.modules; gdsim.optim; "
            "print(before, 'gdsim.optim' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_keras_names_import_from_gdsim_nn_with_all():
    import gdsim
    import gdsim.nn
    from gdsim.nn import Dense, Sequential
    from gdsim.nn.layers import Dense as LayersDense
    from gdsim.nn.model import Sequential as ModelSequential

    assert Dense is LayersDense and Sequential is ModelSequential
    assert {"Sequential", "Dense", "Conv2D", "BatchNormalization"} <= set(gdsim.nn.__all__)
    for name in gdsim.nn.__all__:
        assert getattr(gdsim.nn, name) is not None
    for name in gdsim.__all__:
        if name not in ("keras_bridge", "testing", "plots"):  # these load optional packages
            assert getattr(gdsim, name).__name__ == f"gdsim.{name}"


def test_an_unknown_attribute_is_an_attribute_error():
    import gdsim
    import gdsim.nn
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'optimm'"):
        gdsim.optimm
    with pytest.raises(AttributeError, match="no attribute 'Dens'"):
        gdsim.nn.Dens


def test_gdsim_testing_without_hypothesis_says_which_extra_to_install():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import gdsim.testing\n"
            "except ModuleNotFoundError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'gdsim[testing]'" in out.stdout


def _nn_modules_outside_fast():
    from pathlib import Path

    import gdsim.nn

    root = Path(gdsim.nn.__file__).parent
    return [path for path in sorted(root.rglob("*.py")) if "fast" not in path.relative_to(root).parts]


def test_nothing_in_nn_outside_fast_imports_fast_but_the_engine_selection():
    import ast

    offenders = []
    for path in _nn_modules_outside_fast():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.startswith("gdsim.nn.fast") for name in names) and path.name != "model.py":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "gdsim.nn" and any(
                    alias.name == "fast" for alias in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_the_reference_tier_has_no_speed_machinery():
    """No threads, futures, prefetching, scratch flags or buffer reuse under gdsim/nn/ outside
    fast/ (the words are checked in the code and its comments alike)."""
    import re

    forbidden = re.compile(r"threading|concurrent|Future|submit\(|prefetch|scratch|_buffer|reuse_buffers")
    # blas.py guards OpenBLAS's one process-wide thread count with a lock, so that fits in two
    # threads (either tier) do not restore it under each other: a lock for the bits, no thread
    allowed = {("blas.py", "import threading"), ("blas.py", "_asked_lock = threading.Lock()")}
    hits = [f"{path.name}:{number}: {line.strip()}" for path in _nn_modules_outside_fast()
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if forbidden.search(line) and (path.name, line.strip()) not in allowed]
    assert not hits, hits
