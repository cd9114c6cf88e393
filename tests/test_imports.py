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
