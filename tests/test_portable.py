"""The portable numerics profile: the same bits on every x86-64 machine with AVX2.

The committed hashes below were computed under the portable profile (OpenBLAS Haswell
kernels, NumPy's SIMD loops up to X86_V3) with the NumPy and OpenBLAS versions named in
``RECORDED``. Each machine these tests run on -- whatever its processor -- must give them
again; that is the cross-machine evidence. The runs happen in fresh processes, because this
pytest process loaded NumPy with the machine's own kernels before gdsim could pin anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from gdsim import _io, numerics, optim, simulate, surfaces

ROOT = Path(__file__).resolve().parent.parent

#: sha256 of each run in tests/fingerprints.py under the portable profile.
PORTABLE_HASHES = {
    "seed_cnn": "7247ea84668bc4d81c8d79c4b7e9a12fd8fc531eb978b257eb5803ef57cc895a",
    "sweep": "507ab647bca76dea809a58f773ff917ac4ebffd1ecdfedff09eb2ec2eba9de03",
    "reproduce": "7935a5cac2c2b51be8910635b4b42f098b68997606103c954ee5059fef7d3d8a",
}
#: The library versions the hashes were recorded with: bits are promised for these only.
RECORDED = {"numpy_version": "2.4.6", "openblas_version": "0.3.31.188.0"}


def _run(*args: str, native: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES", numerics.ENV_VAR)}
    if native:
        env[numerics.ENV_VAR] = "native"
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600, check=False)


def _portable_machine_or_skip() -> dict:
    """The portable profile as a fresh process sees it; skips, saying why, where the
    committed bits are not promised (another architecture, no AVX2, other library versions)."""
    process = _run("-m", "gdsim", "numerics", "--json")
    assert process.returncode == 0, process.stderr
    info = json.loads(process.stdout)
    if info["machine"] not in ("x86_64", "amd64"):
        pytest.skip(f"the portable bits are promised on x86-64 only; this is {info['machine']}")
    if "avx2" not in info["cpu_features"]:
        pytest.skip("the portable profile needs AVX2; this CPU has none")
    versions = {key: info[key] for key in RECORDED}
    if versions != RECORDED:
        pytest.skip(f"hashes recorded with {RECORDED}; this machine has {versions}")
    return info


def test_the_command_starts_under_the_portable_profile_and_the_opt_out_leaves_it():
    info = _portable_machine_or_skip()
    assert info["portable"] and info["reason"] is None, info
    assert info["blas_core"] == numerics.PORTABLE_BLAS_CORE
    assert not [t for t in info["numpy_simd"] if t.startswith("AVX512") or t == "X86_V4"]
    native = json.loads(_run("-m", "gdsim", "--native-kernels", "numerics", "--json").stdout)
    also = json.loads(_run("-m", "gdsim", "numerics", "--json", native=True).stdout)
    assert native == also
    if "avx512f" not in info["cpu_features"]:
        # an AVX2 machine (AMD Zen 3, say): its own kernels are the portable ones, so are its bits
        assert native["portable"] and native["label"] == info["label"], native
    else:
        assert not native["portable"] and native["reason"], native
        assert native["label"].startswith("native (machine-specific)")


@pytest.mark.parametrize("name", sorted(PORTABLE_HASHES))
def test_portable_bits_equal_the_committed_hash(name):
    _portable_machine_or_skip()
    process = _run("tests/fingerprints.py", name)
    assert process.returncode == 0, process.stderr
    pinned, label, digest = process.stdout.split("\n")[:3]
    assert pinned == "portable" and label.startswith("portable:"), process.stdout
    assert digest == PORTABLE_HASHES[name], (
        f"{name}: the portable profile gave {digest} under [{label}], committed "
        f"{PORTABLE_HASHES[name]}")


def test_the_seed_cnn_hash_has_teeth_native_avx512_kernels_give_other_bits():
    info = _portable_machine_or_skip()
    if "avx512f" not in info["cpu_features"]:
        pytest.skip("on a machine without AVX-512 the native kernels are the portable ones")
    process = _run("tests/fingerprints.py", "seed_cnn", native=True)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split("\n")[2] != PORTABLE_HASHES["seed_cnn"]


# --------------------------------------------------------------------- the library's view
def test_profile_reports_versions_core_threads_and_features():
    info = numerics.profile()
    assert info["numpy_version"] == np.__version__
    assert isinstance(info["portable"], bool) and info["kind"] in ("portable", "native")
    assert (info["reason"] is None) == info["portable"]
    assert isinstance(info["cpu_features"], list) and isinstance(info["numpy_simd"], list)
    if info["blas_core"] == "unknown":
        assert info["reason"], "an unreadable BLAS core must say why"
    else:
        assert info["blas_threads"] >= 1 and info["openblas_version"] != "unknown"
    assert numerics.label(info) == numerics.label() and "\n" not in numerics.label()


def test_pin_cannot_act_once_numpy_is_loaded_and_says_so():
    assert numerics.pin().startswith("not pinned: NumPy was imported")


def test_a_bad_profile_name_is_one_clear_line(monkeypatch):
    monkeypatch.setenv(numerics.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="GDSIM_NUMERICS must be 'portable' or 'native'"):
        numerics.requested_native()
    process = subprocess.run([sys.executable, "-m", "gdsim", "numerics"], capture_output=True,
                             text=True, env={**os.environ, numerics.ENV_VAR: "fast"}, cwd=ROOT)
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [
        "gdsim: error: GDSIM_NUMERICS must be 'portable' or 'native', got 'fast'"]


def test_resuming_under_another_profile_warns_in_one_line_naming_both(tmp_path, monkeypatch):
    path = tmp_path / "sim.npz"
    problem, x0 = surfaces.get("rosenbrock"), np.zeros((2, 2))
    simulate.run(problem, optim.Adam(0.01), x0, 6, checkpoint=path, checkpoint_every=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same profile: no warning
        simulate.run(problem, optim.Adam(0.01), x0, 6, resume=path)
    monkeypatch.setattr(numerics, "_label", "portable: elsewhere")
    with pytest.warns(numerics.NumericsWarning) as caught:
        simulate.run(problem, optim.Adam(0.01), x0, 6, resume=path)
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message
    saved = str(_io.load_npz(path)["numerics"])
    assert f"[{saved}]" in message and "[portable: elsewhere]" in message


def test_saved_figures_name_their_profile(tmp_path):
    from PIL import Image

    from gdsim import plots

    with plots.style():
        fig, ax = plots.new_figure()
        ax.plot([0, 1], [1, 0])
    png, svg = plots.save(fig, tmp_path, "f")
    expected = f"gdsim numerics profile: {numerics.label()}"
    assert Image.open(png).text == {"Description": expected}
    assert f"<dc:description>{expected}</dc:description>" in svg.read_text()


def test_the_entry_point_and_numerics_import_no_numpy():
    # they run before NumPy loads: that is the only moment the kernels can still be chosen
    code = "import sys, gdsim, gdsim.numerics, gdsim.__main__; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_checkpoint_in_the_old_format_is_refused_clearly(tmp_path):
    path = tmp_path / "old.npz"
    _io.save_npz(path, {"sim/format": np.array("gdsim.simulate/1")})
    with pytest.raises(ValueError, match=r"old.npz.*not a current gdsim simulate checkpoint.*"
                                         r"older gdsim format, expected gdsim.simulate/2"):
        simulate.run(surfaces.get("rosenbrock"), "adam", np.zeros(2), 3, resume=path)


def test_the_blas_reported_is_numpys_own_even_beside_scipys():
    pytest.importorskip("scipy.linalg")  # loads SciPy's own OpenBLAS into this process
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if "openblas configuration" not in config:
        pytest.skip(f"this NumPy is built against {config.get('name')}, not OpenBLAS")
    assert numerics.profile()["openblas_version"] == config["openblas configuration"].split()[1]


def test_a_figure_script_run_directly_computes_under_the_portable_profile(tmp_path):
    from PIL import Image

    info = _portable_machine_or_skip()
    process = _run("gdsim/gallery/05_momentum.py", "--quick", "--out", str(tmp_path))
    assert process.returncode == 0, process.stderr
    assert Image.open(tmp_path / "05_momentum.png").text == {
        "Description": f"gdsim numerics profile: {info['label']}"}
    assert info["label"].startswith("portable:")
