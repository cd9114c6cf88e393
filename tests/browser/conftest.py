"""A headless Chromium from Debian's ``chromium`` package, driven by Playwright, with every
network request refused.

Nothing here downloads a browser: Playwright is told the system binary's path and never runs
``playwright install``. Without the browser or Playwright the tests skip, saying which is
missing; with ``GDSIM_REQUIRE_BROWSER=1`` (as CI sets) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

CHROMIUM = os.environ.get("GDSIM_CHROMIUM", "/usr/bin/chromium")
#: As root in a container: no sandbox; and nothing that phones home on start-up.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--no-default-browser-check"]
VIEWPORT = {"width": 1680, "height": 1050}


def _unavailable(reason: str):
    if os.environ.get("GDSIM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GDSIM_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; set GDSIM_REQUIRE_BROWSER=1 to make this a failure")


@pytest.fixture(scope="session")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright cannot be imported ({exc}); pip install -e '.[test]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser_context(playwright_api):
    """A persistent context on a fresh profile directory, offline, every non-file URL aborted.
    ``context.refused`` lists the URLs anything tried to load."""
    profile = tempfile.mkdtemp(prefix="gdsim-chromium-")
    context = playwright_api.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, offline=True,
        viewport=VIEWPORT, device_scale_factor=1)
    context.refused = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith("file:"):
            request_route.continue_()
        else:
            context.refused.append(url)
            request_route.abort()

    context.route("**/*", route)
    yield context
    context.close()
    shutil.rmtree(profile, ignore_errors=True)
