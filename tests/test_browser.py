"""The inspector in a real browser: Voilà serves a notebook on loopback, Playwright drives
Debian's Chromium, clicks the step button and checks that the page shows the next layer.
A screenshot is saved to tests/artifacts/inspector.png.
"""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("voila")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

HERE = Path(__file__).parent
ARTIFACTS = HERE / "artifacts"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_url():
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(HERE / "browser" / "inspector.ipynb"),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"voila exited: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_clicking_step_in_the_browser_shows_the_next_layer(voila_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(voila_url, timeout=120_000)
        live = page.locator(".widget-vbox.nn-inspector")  # not its static copy, hidden
        live.get_by_text("numbanet inspector", exact=True).wait_for(timeout=120_000)
        step = live.get_by_role("button", name="step ▶")
        step.click()
        live.get_by_text("forward: 0: Flatten()").wait_for(timeout=30_000)
        live.locator("button:disabled").first.wait_for(state="detached", timeout=30_000)
        step.click()
        live.get_by_text("forward: 1: Linear(64→32)").wait_for(timeout=30_000)
        # The header and the diagram are separate widgets whose updates reach the page one
        # after the other: wait (up to 30 s) for the diagram to mark the new layer.
        current = live.locator(".nn-current")
        sync_api.expect(current).to_contain_text("1: Linear(64→32)", timeout=30_000)
        assert live.locator("img.nn-tile").count() >= 2  # the figures arrived as images
        assert not page.locator("[id^=nn-snapshot-]").is_visible()  # hidden while live
        page.screenshot(path=str(ARTIFACTS / "inspector.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "inspector.png").stat().st_size > 10_000
