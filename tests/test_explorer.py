"""The explorer page without a browser: it carries exactly gdsim's runs, loads nothing from any
network, stays under 10 MB, and `gdsim explore` fails clearly on bad flags."""

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from gdsim import cli, explorer, noise, simulate
from gdsim.explorer import encode, grid, page

ROOT = Path(__file__).resolve().parent.parent


def embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="gdsim-data">(.*?)</script>', html, re.S)
    assert match, "the page has no embedded data block"
    return json.loads(match.group(1))


def without_data(html: str) -> str:
    """The page with its data block removed: base64 may spell anything ('http', '//')."""
    return re.sub(r'(<script type="application/json" id="gdsim-data">).*?(</script>)', r"\1\2",
                  html, flags=re.S)


@pytest.fixture(scope="module")
def quick_page(tmp_path_factory):
    path = explorer.write(tmp_path_factory.mktemp("explorer") / "quick.html", quick=True)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def default_page(tmp_path_factory):
    path = explorer.write(tmp_path_factory.mktemp("explorer") / "explorer.html")
    return path, path.read_text(encoding="utf-8")


def standalone(preset, name, lrs, index, data):
    """The run at slider positions ``index`` = (start, lr, beta1, beta2, noise setting), done
    alone with scalar hyper-parameters, as the page's provenance note says it can be."""
    s, l, b1, b2, n = index
    level, seed = data["grid"]["noiseSettings"][n]
    optimizer = grid.optimizer_for(name, lrs[l], data["grid"]["beta1"][b1], data["grid"]["beta2"][b2])
    return simulate.run(preset.surface, optimizer, np.array(data_start(data, preset, s)),
                        data["grid"]["steps"], noise=noise.Gaussian(level * preset.noise_unit),
                        seed=data["noiseRoot"], dtype="float32", run_ids=np.array(seed))


def data_start(data, preset, s):
    return next(p for p in data["surfaces"] if p["key"] == preset.key)["starts"][s]


def test_every_embedded_run_sampled_equals_simulate_run_alone(quick_page):
    data = embedded(quick_page[1])
    presets = {p.key: p for p in grid.presets()}
    rng = np.random.default_rng(14)
    checked = noisy = 0
    for entry in data["surfaces"]:
        preset = presets[entry["key"]]
        for name in data["optimizers"]:
            block = entry["runs"][name]
            paths = encode.decode_float32(block["data"], block["shape"])
            runs_shape = tuple(block["shape"][:-2])
            # the last setting on every axis (the noisiest, with the last seed) and two random ones
            picks = [tuple(k - 1 for k in runs_shape)] + [tuple(int(rng.integers(k)) for k in runs_shape)
                                                          for _ in range(2)]
            for index in picks:
                alone = standalone(preset, name, entry["learningRates"][name], index, data)
                np.testing.assert_array_equal(paths[index], alone.params, err_msg=f"{entry['key']} "
                                              f"{name} {index}")
                checked += 1
                noisy += data["grid"]["noiseSettings"][index[-1]][0] > 0
    assert checked == 3 * 6 * len(data["surfaces"]) and noisy >= checked // 3


def test_the_escape_map_is_the_fraction_of_gdsim_runs_that_reach_the_deep_well(quick_page):
    data = embedded(quick_page[1])
    emap = next(p for p in data["surfaces"] if p["key"] == "double_well")["escapeMap"]
    well = next(p for p in grid.presets() if p.key == "double_well").surface
    seeds, n_lrs = emap["seeds"], len(emap["lrs"])
    for j, i in [(len(emap["sigmas"]) // 2, 1), (len(emap["sigmas"]) - 1, 0)]:
        ids = (j * n_lrs + i) * seeds + np.arange(seeds)  # their ids in the map's one call
        run = simulate.run(well, grid.optimizer_for("GD", emap["lrs"][i], 0, 0),
                           np.tile(well.minima[1], (seeds, 1)), emap["steps"],
                           noise=noise.Gaussian(emap["sigmas"][j]), seed=data["noiseRoot"],
                           dtype="float32", record="final", run_ids=ids)
        escaped = np.mean(well.nearest_minimum(run.final_params) == 0)
        assert emap["escaped"][j][i] == escaped
    assert np.max(emap["escaped"]) > 0.5 and emap["escaped"][0] == [0.0] * n_lrs  # no noise: stuck


def test_the_page_carries_what_it_shows(quick_page):
    data = embedded(quick_page[1])
    assert data["format"] == page.FORMAT and data["dtype"] == "float32"
    assert {p["family"] for p in data["surfaces"]} == {"bowl", "rosenbrock", "double_well", "saddle",
                                                       "himmelblau"}
    assert data["optimizers"] == ["GD", "momentum", "Nesterov", "Adam", "RMSprop", "Adagrad"]
    bowl10 = next(p for p in data["surfaces"] if p["key"] == "bowl-10")
    assert bowl10["eigenvalues"] == [[0.1, 1.0]] and bowl10["criticalLr"] == 2.0
    # the learning-rate stops straddle 2/lambda_max so the stability read-out can flip
    lrs = bowl10["learningRates"]["GD"]
    assert any(lr < 2.0 for lr in lrs) and any(2.0 < lr < 2.1 for lr in lrs)
    from gdsim import plots
    assert data["colors"] == plots.COLORS and data["optimizerStyle"] == plots.OPTIMIZER_STYLE


NETWORK_PATTERNS = [
    r"https?:", r"\b(wss?|ftp|file|data|blob):", r"\bsrc\s*=", r"\bhref\s*=", r"\baction\s*=", r"url\(",
    r"@import", r"\bfetch\s*\(", r"XMLHttpRequest", r"WebSocket", r"EventSource", r"sendBeacon",
    r"importScripts", r"\bimport\s*\(", r"serviceWorker", r"<link", r"<iframe", r"<img", r"<object",
    r"<embed", r"<audio", r"<video", r"<source", r"font-face", r"[\"'(=]\s*//",
]


@pytest.mark.parametrize("pattern", NETWORK_PATTERNS)
def test_nothing_on_the_page_can_reach_a_network(quick_page, pattern):
    text = without_data(quick_page[1])
    found = [m.group(0) for m in re.finditer(pattern, text, re.I)]
    assert not found, f"{pattern!r} occurs: {found[:3]}"


def test_the_only_http_is_the_content_security_policy_that_forbids_loading(quick_page):
    text = without_data(quick_page[1])
    assert [m.start() for m in re.finditer("http", text, re.I)] == [text.find("http-equiv")]
    assert "default-src 'none'" in text  # no fetch, no image, no font, no frame from anywhere


def test_the_data_block_holds_no_address(quick_page):
    data = embedded(quick_page[1])
    for entry in data["surfaces"]:
        for block in entry["runs"].values():
            assert re.fullmatch(r"[A-Za-z0-9+/]*=*", block["data"])
            block["data"] = ""
    text = json.dumps(data)
    assert "http" not in text.lower() and "//" not in text


def test_both_files_are_under_10_mb_and_the_default_has_every_stop(quick_page, default_page):
    assert os.path.getsize(quick_page[0]) < 2_000_000
    assert os.path.getsize(default_page[0]) < explorer.MAX_BYTES
    data = embedded(default_page[1])
    assert data["quick"] is False and data["grid"]["steps"] == grid.FULL.steps
    entry = next(p for p in data["surfaces"] if p["key"] == "rosenbrock")
    block = entry["runs"]["Adam"]
    assert block["shape"] == [4, 6, 3, 2, 3, grid.FULL.steps + 1, 2]
    paths = encode.decode_float32(block["data"], block["shape"])
    preset = next(p for p in grid.presets() if p.key == "rosenbrock")
    index = (0, 3, 2, 1, 2)
    np.testing.assert_array_equal(paths[index], standalone(preset, "Adam", entry["learningRates"]["Adam"],
                                                           index, data).params)


def test_encode_round_trips_and_refuses_float64():
    values = np.array([[1.5, -np.inf], [np.nan, 3e-39]], dtype=np.float32)
    back = encode.decode_float32(encode.encode_float32(values), values.shape)
    assert back.dtype == np.float32 and np.array_equal(back, values, equal_nan=True)
    with pytest.raises(TypeError, match="float32"):
        encode.encode_float32(values.astype(np.float64))
    with pytest.raises(ValueError, match="shape"):
        encode.decode_float32(encode.encode_float32(values), (3,))


def test_surface_selection_by_family_or_key():
    assert [p.key for p in explorer.select_presets(["bowl"])] == ["bowl-1", "bowl-10", "bowl-100"]
    assert [p.key for p in explorer.select_presets(["saddle", "bowl-10"])] == ["bowl-10", "saddle"]
    with pytest.raises(ValueError, match="--surface must be one of"):
        explorer.select_presets(["banana"])


def test_the_template_files_ship_as_package_data():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gdsim.explorer"]
    shipped = {p.name for p in (ROOT / "gdsim" / "explorer").iterdir()
               if any(p.match(pattern) for pattern in patterns)}
    assert {"page.html", "explorer.js", "explorer.css"} <= shipped


# ----------------------------------------------------------------------------- the command
def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_explore_writes_the_file(tmp_path, capsys):
    out = tmp_path / "saddle.html"
    status, stdout, stderr = run_cli(capsys, "explore", "--quick", "--surface", "saddle", "--out", str(out))
    assert status == 0 and f"wrote {out}" in stdout and "saddle:" in stderr
    assert [p["key"] for p in embedded(out.read_text())["surfaces"]] == ["saddle"]
    assert sorted(os.listdir(tmp_path)) == ["saddle.html"]  # no temporary file left behind


@pytest.mark.parametrize("argv, flag", [
    (["--surface", "banana"], "--surface"),
    (["--surface", "bowl,banana"], "--surface"),
    (["--out", "{missing}/x.html"], "--out"),
    (["--out", "{tmp}"], "--out"),
])
def test_explore_bad_flags_give_one_line_naming_the_flag(tmp_path, capsys, argv, flag):
    argv = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in argv]
    (tmp_path / "keep.html").write_text("old")
    status, stdout, stderr = run_cli(capsys, "explore", "--quick", *argv)
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("gdsim: error: ") and flag in stderr
    assert sorted(os.listdir(tmp_path)) == ["keep.html"]


def test_explore_unknown_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["explore", "--quik"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--quik" in err


def test_a_failed_build_leaves_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "explorer.html"
    out.write_text("the old explorer")

    def broken(data):
        raise RuntimeError("template broke")

    monkeypatch.setattr(page, "render", broken)
    with pytest.raises(RuntimeError):
        explorer.write(out, surfaces=["saddle"], quick=True)
    assert out.read_text() == "the old explorer" and sorted(os.listdir(tmp_path)) == ["explorer.html"]
