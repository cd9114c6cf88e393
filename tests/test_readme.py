"""The README's code runs and prints what the README says it prints."""

import contextlib
import io
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def block_containing(text: str) -> str:
    return next(block for block in PYTHON_BLOCKS if text in block)


def test_textbook_example_prints_the_readme_output():
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(block_containing("rosenbrock = surfaces.get"), {})
    printed = output.getvalue().splitlines()
    shown = re.search(r"```text\n(SGD\(learning_rate=0.001\).*?)```", README, flags=re.S).group(1)
    assert printed == shown.strip().splitlines()


def test_five_line_property_test_runs_and_passes():
    namespace = {}
    exec(block_containing("from gdsim import testing"), namespace)
    namespace["test_gd_below_the_critical_learning_rate_never_raises_the_loss"]()


def test_readme_quick_start_and_ci_use_the_same_test_command():
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "ci-test-command" in ci and "<!-- ci-test-command -->" in README
    block = README.split("<!-- ci-test-command -->")[1].split("<!-- /ci-test-command -->")[0]
    assert "pytest" in block and "pip install" in block


def test_every_gdsim_path_the_readme_names_exists():
    """`gdsim.a.b.c` in the README is a module, or an attribute of one: no stale paths."""
    import importlib

    paths = sorted(set(re.findall(r"`(gdsim(?:\.[A-Za-z_]\w*)+)", README)))
    assert "gdsim.studies.cnn.data.real_fake_images" in paths
    for path in paths:
        parts = path.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        for name in parts[cut:]:
            assert hasattr(target, name), f"README names {path}, but {name!r} does not exist"
            target = getattr(target, name)


def test_the_reproduce_sample_is_the_real_output(tmp_path):
    """Every line of the README's `gdsim reproduce` sample (but the prompt and the "..." that
    stand for left-out rows) is a line of the real output, in the same order. The command runs
    as a user runs it, in a process of its own: there it starts under the portable numerics
    profile, so its last digits are the same on every x86-64 machine (inside pytest, NumPy is
    loaded already and an AVX-512 machine's own loops would decide them)."""
    block = README.split("<!-- reproduce-sample:")[1].split("```text\n")[1].split("```")[0]
    shown = [line for line in block.splitlines() if not line.startswith("$ ") and line != "..."]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GDSIM_NUMERICS", None)
    process = subprocess.run([sys.executable, "-m", "gdsim", "reproduce"], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert process.returncode == 0, process.stderr
    real = process.stdout.splitlines()
    position = 0
    for line in shown:
        assert line in real[position:], f"README line not in the real output (in order): {line!r}"
        position = real.index(line, position) + 1
    assert len([line for line in shown if line.strip()]) >= 15


def test_same_name_different_numbers_example_prints_the_readme_output():
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(block_containing("equivalent.to_torch(keras)"), {})
    shown = re.search(r"```text\n(SGD\(lr=0.1, momentum=0.9\).*?)```", README, flags=re.S).group(1)
    assert output.getvalue().splitlines() == shown.strip().splitlines()
