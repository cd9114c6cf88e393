"""The explorer in a real browser (headless system Chromium, networking off).

It is opened from file://, driven through its URL and through real input events (keys, a
mouse click on a slider and on the contour, hover), and read back through its test hook
``window.gdsimExplorer``. The drawn trajectory must end exactly where gdsim's ``simulate.run``
ends (float32), the stability read-out must flip at 2/lambda_max, and a redraw after a slider
move must take under 50 ms. Screenshots go to $GDSIM_SCREENSHOTS (or a temporary folder).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import numpy as np
import pytest

from gdsim import explorer, noise, simulate
from gdsim.explorer import grid

PRESETS = {p.key: p for p in grid.presets()}


@pytest.fixture(scope="module")
def explorer_file(tmp_path_factory) -> Path:
    # The default file, the one a lecturer takes to class (the timings are measured on it).
    return explorer.write(tmp_path_factory.mktemp("explorer") / "explorer.html")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("GDSIM_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(browser_context, explorer_file):
    tab = browser_context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    tab.goto(explorer_file.as_uri())
    tab.wait_for_selector("html[data-ready=true]", timeout=30_000)
    yield tab
    tab.close()


def open_at(page, fragment: str) -> dict:
    """Load the file fresh at ``#fragment`` (as a shared link is opened) and return state()."""
    url = page.url.split("#")[0]
    page.goto("about:blank")  # so the next goto is a real load, not a same-document hash change
    page.goto(url + "#" + fragment)
    page.wait_for_selector("html[data-ready=true]", timeout=30_000)
    return hook(page, "state()")


def wait_until(page, condition: str, timeout_s: float = 10.0) -> None:
    """Poll ``window.gdsimExplorer.<condition>`` (wait_for_function would need eval, which the
    page's Content-Security-Policy rightly forbids)."""
    for _ in range(int(timeout_s / 0.05)):
        if hook(page, condition):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {condition}")


def hook(page, call: str):
    return page.evaluate(f"window.gdsimExplorer.{call}")


def gdsim_run(state: dict) -> simulate.Trajectory:
    """The run the page shows, done by gdsim alone with the page's own scalar settings."""
    optimizer = grid.optimizer_for(state["optimizer"], state["lr"], state["beta1"] or 0.9,
                                   state["beta2"] or 0.999)
    return simulate.run(PRESETS[state["surface"]].surface, optimizer, np.array(state["startPoint"]),
                        state["steps"], noise=noise.Gaussian(state["noise"]), seed=grid.NOISE_ROOT,
                        dtype="float32", run_ids=np.array(state["seed"]))


def nearest_stop(key: str, optimizer: str, lr: float) -> float:
    stops = PRESETS[key].learning_rates(optimizer, grid.FULL)
    return float(stops[np.argmin(np.abs(np.log(stops / lr)))])


def as_float32(points) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in p] for p in points], dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("fragment", [
    "surface=bowl&kappa=10&opt=GD&lr=1.96",
    "surface=bowl&kappa=100&opt=momentum&lr=1&beta1=0.9&start=3",
    "surface=rosenbrock&opt=Adam&lr=0.08&beta1=0.9&beta2=0.999&noise=10&seed=1&steps=37",
    "surface=double_well&opt=Nesterov&lr=0.392&beta1=0.5&noise=1.2&seed=0&start=1",
    "surface=saddle&opt=RMSprop&lr=0.04&rho=0.9&start=2",
    "surface=himmelblau&opt=Adagrad&lr=1&start=4&noise=20&seed=1",
])
def test_the_drawn_trajectory_ends_where_simulate_run_ends(page, fragment):
    state = open_at(page, fragment)
    alone = gdsim_run(state)
    drawn = as_float32(hook(page, "trajectory()"))
    end = as_float32([hook(page, "endPoint()")])[0]
    np.testing.assert_array_equal(end, alone.final_params)
    np.testing.assert_array_equal(drawn, alone.params[:len(drawn)])
    if np.isfinite(alone.params).all():
        assert len(drawn) == state["steps"] + 1
    assert page.errors == []


def test_a_link_restores_the_state_exactly_and_hide_removes_controls(page):
    link = ("surface=rosenbrock&opt=momentum&lr=0.001&beta1=0.99&noise=10&seed=1&start=2&steps=50"
            "&step=20&hide=noise,seed,beta2,notes")
    state = open_at(page, link)
    assert (state["surface"], state["optimizer"], state["lr"], state["beta1"], state["noise"],
            state["seed"], state["start"], state["steps"], state["step"]) == \
           ("rosenbrock", "momentum", nearest_stop("rosenbrock", "momentum", 0.001), 0.99, 10.0, 1, 2,
            50, 20)
    assert state["hide"] == ["noise", "seed", "beta2", "notes"]
    for name in ("noise", "seed", "beta2", "notes"):
        assert not page.locator(f"[data-control={name}]").first.is_visible(), name
    for name in ("lr", "beta1", "optimizer", "surface", "steps"):
        assert page.locator(f"[data-control={name}]").first.is_visible(), name
    # the page writes the full state back into its URL; opening that URL gives the same state
    fragment = page.url.split("#", 1)[1]
    assert open_at(page, fragment) == state
    # a link pasted into the same tab restores it too (hashchange), including the defaults
    page.evaluate("location.hash = '#surface=saddle&opt=GD'")
    wait_until(page, "state().surface === 'saddle'")
    again = hook(page, "state()")
    assert again["hide"] == [] and again["step"] == again["steps"] and again["noise"] == 0
    # a broken link still opens, says what it could not read, and keeps the rest
    state = open_at(page, "surface=himmelblau&opt=SGDX&start=3")
    assert (state["surface"], state["optimizer"], state["start"]) == ("himmelblau", "GD", 3)
    assert "unknown optimizer SGDX" in page.locator("#note").inner_text()


def test_real_keys_mouse_and_clicks_drive_the_page(page):
    state = open_at(page, "surface=bowl&kappa=10&opt=GD")
    stops = page.evaluate("JSON.parse(document.getElementById('gdsim-data').textContent)"
                          ".surfaces.find(s => s.key === 'bowl-10').learningRates.GD")
    # keyboard on a focused slider: one stop up
    page.focus("#lr")
    page.keyboard.press("ArrowRight")
    assert hook(page, "state()")["lr"] == stops[stops.index(state["lr"]) + 1]
    # the mouse on a slider: a click at the right end of the track takes the last stop
    box = page.locator("#lr").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    assert hook(page, "state()")["lr"] == stops[-1]
    page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
    assert hook(page, "state()")["lr"] == stops[0]
    # a click on the contour takes the nearest numbered start
    canvas = page.locator("#contour").bounding_box()
    third = page.evaluate("JSON.parse(document.getElementById('gdsim-data').textContent)"
                          ".surfaces.find(s => s.key === 'bowl-10').starts[2]")
    px, py = hook(page, f"toCanvas({third[0]}, {third[1]})")
    page.mouse.click(canvas["x"] + px + 5, canvas["y"] + py - 4)
    assert hook(page, "state()")["start"] == 3 and hook(page, "state()")["startPoint"] == third
    # keyboard steps outside the sliders
    page.locator("h1").click()
    steps = hook(page, "state()")["steps"]
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert hook(page, "state()")["step"] == steps - 3
    page.keyboard.press("Home")
    assert hook(page, "state()")["step"] == 0
    page.keyboard.press("ArrowRight")
    assert hook(page, "state()")["step"] == 1 and len(hook(page, "trajectory()")) == 2
    page.keyboard.press("o")
    assert hook(page, "state()")["optimizer"] == "momentum"
    page.keyboard.press("Space")
    assert hook(page, "state()")["playing"] is True
    wait_until(page, "state().step >= 4")
    page.keyboard.press("Space")
    assert hook(page, "state()")["playing"] is False
    # hover over an iterate: its exact (float32) coordinates
    at = hook(page, "state()")["step"]
    point = hook(page, "trajectory()")[1]
    px, py = hook(page, f"toCanvas({point[0]}, {point[1]})")
    page.mouse.move(canvas["x"] + px, canvas["y"] + py)
    tip = page.locator("#tooltip")
    text = tip.inner_text()
    assert tip.is_visible() and "step 1 (gdsim, float32)" in text
    shown_x = next(line for line in text.splitlines() if line.startswith("x = "))
    assert float(shown_x[4:]) == pytest.approx(point[0], rel=1e-7)
    assert at >= 4 and page.errors == []


def test_the_surface_formulas_on_the_page_agree_with_gdsim(page):
    rng = np.random.default_rng(3)
    for key in ("bowl-100", "rosenbrock", "double_well", "saddle", "himmelblau"):
        open_at(page, f"surface={key}")
        lo, hi = PRESETS[key].box
        for x, y in rng.uniform(lo, hi, size=(5, 2)).tolist():
            value = hook(page, f"surfaceValue({x!r}, {y!r})")
            grad = hook(page, f"surfaceGrad({x!r}, {y!r})")
            surface = PRESETS[key].surface
            assert value == pytest.approx(float(surface.value([x, y])), rel=1e-12, abs=1e-12)
            np.testing.assert_allclose(grad, surface.grad([x, y]), rtol=1e-12, atol=1e-12)


def test_the_stability_read_out_flips_at_two_over_lambda_max(page):
    surface = PRESETS["bowl-10"].surface
    critical = 2.0 / surface.lambda_max
    state = open_at(page, "surface=bowl&kappa=10&opt=GD&lr=1.96")
    assert state["lr"] < critical
    report = hook(page, "stability()")
    assert report["stable"] and [r["stable"] for r in report["rows"]] == [True, True]
    assert "unstable" not in hook(page, "stabilityText()").lower()
    page.focus("#lr")
    page.keyboard.press("ArrowRight")  # the next stop, just above 2/lambda_max
    state = hook(page, "state()")
    assert critical < state["lr"] < 1.05 * critical
    report = hook(page, "stability()")
    assert not report["stable"] and [r["stable"] for r in report["rows"]] == [True, False]
    assert report["rows"][1]["etaLambda"] == pytest.approx(state["lr"] * surface.lambda_max)
    assert "unstable" in hook(page, "stabilityText()").lower()
    # gdsim's run agrees: the steep coordinate grows instead of shrinking
    path = as_float32(hook(page, "trajectory()"))
    assert abs(path[-1, 1]) > abs(path[0, 1])
    # momentum's limit is 2 + 2 beta: the same lr is stable with beta = 0.9, not for Nesterov
    for name, stable in (("momentum", True), ("Nesterov", False)):
        open_at(page, f"surface=bowl&kappa=10&opt={name}&lr={state['lr']}&beta1=0.9")
        report = hook(page, "stability()")
        expected = 2 + 2 * 0.9 if name == "momentum" else (2 + 2 * 0.9) / (1 + 2 * 0.9)
        assert report["rows"][1]["threshold"] == pytest.approx(expected)
        assert report["stable"] is stable


FRAME_TIMER = """() => { window.__frames = [];
    // from the input event's time stamp to the next animation frame, after the page's redraw
    document.addEventListener('input', (e) => { const t0 = e.timeStamp;
        requestAnimationFrame(() => window.__frames.push(performance.now() - t0)); }, true); }"""


def test_a_redraw_after_a_slider_move_takes_under_50_ms(page, capsys, shots):
    redraws, frames = [], []
    for fragment, sliders in (("surface=rosenbrock&opt=Adam", ("lr", "beta1", "beta2", "noise", "steps")),
                              ("surface=himmelblau&opt=momentum", ("lr", "beta1", "noise", "seed")),
                              ("surface=bowl&opt=Adam", ("kappa",))):
        open_at(page, fragment)
        page.evaluate(FRAME_TIMER)
        for slider in sliders:
            page.focus(f"#{slider}")
            for key in ("ArrowLeft", "ArrowRight", "ArrowRight", "ArrowLeft"):
                before = hook(page, "state()")
                page.keyboard.press(key)
                if hook(page, "state()") != before:  # a move at the end of a slider is no move
                    redraws.append(hook(page, "lastRedrawMs()"))
        page.wait_for_timeout(100)
        frames += page.evaluate("window.__frames")
    assert len(redraws) >= 20 and len(frames) == len(redraws)
    report = {"moves": len(redraws), "redraw_ms_median": statistics.median(redraws),
              "redraw_ms_p90": statistics.quantiles(redraws, n=10)[-1], "redraw_ms_max": max(redraws),
              "input_to_frame_ms_median": statistics.median(frames),
              "input_to_frame_ms_p90": statistics.quantiles(frames, n=10)[-1],
              "input_to_frame_ms_max": max(frames)}
    (shots / "timings.json").write_text(json.dumps(report, indent=1))
    with capsys.disabled():
        print(f"\nexplorer redraw after a slider move: {report}")
    # The page's redraw: 9 moves in 10 under 50 ms (on a shared machine a move can lose its core
    # mid-redraw). Event to frame adds the browser's frame scheduling: its median under 50 ms.
    assert report["redraw_ms_p90"] < 50 and report["input_to_frame_ms_median"] < 50, report


SCREENSHOTS = {
    "01_bowl_gd_zigzag": "surface=bowl&kappa=10&opt=GD&lr=1.96&step=9",
    "02_bowl_momentum_arrows": "surface=bowl&kappa=100&opt=momentum&lr=1&beta1=0.9&step=6",
    "03_rosenbrock_adam": "surface=rosenbrock&opt=Adam&lr=0.08&beta1=0.9&beta2=0.999&step=12",
    "04_double_well_noise": "surface=double_well&opt=GD&lr=0.392&noise=1.2&seed=1",
    "05_escape_map": "surface=double_well&mode=map&lr=0.392&noise=1.2",
    "06_saddle": "surface=saddle&opt=GD&lr=0.25&start=2",
    "07_lecturer_stripped": "surface=bowl&kappa=10&opt=GD&lr=2.04&step=12&hide=noise,seed,beta1,beta2,notes,readout",
}


def test_screenshots_show_drawn_pages(page, shots, browser_context, capsys):
    for name, fragment in SCREENSHOTS.items():
        open_at(page, fragment)
        path = shots / f"{name}.png"
        page.screenshot(path=str(path))
        # the contour canvas holds a picture, not a blank: many distinct colours
        colours = page.evaluate("""() => { const c = document.getElementById('contour');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
            return seen.size; }""")
        assert path.stat().st_size > 20_000 and colours > 8, (name, colours)
    with capsys.disabled():
        print(f"\nexplorer screenshots: {shots}")
    assert page.errors == [] and browser_context.refused == []
