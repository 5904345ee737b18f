"""The inspector in JupyterLab 4 as a learner sees it: a 1400 × 1000 window, the file browser
open, the seed MLP, the seed CNN and the row-MNIST LSTM (tests/browser/inspector_lab.ipynb).

One JupyterLab server and one page for the module. For each model, after a forward, the loss,
a backward and an update event: nothing of the inspector reaches past the visible width,
pictures are shown at their own pixel size with text of at least 11 px, every heatmap has a
colour bar. Then: busy feedback within 300 ms of a click that starts long work, and a click made
meanwhile is not replayed; last, the notebook saved and opened again without its kernel shows
the last view of each inspector. Screenshots go to tests/artifacts/lab_*.png.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("jupyterlab")
# skips this module too where chromium (or Voilà, a dev dependency like JupyterLab) is missing
from test_browser import CHROMIUM, free_port  # noqa: E402

HERE = Path(__file__).parent
ARTIFACTS = HERE / "artifacts"
MODELS = ["mlp", "cnn", "lstm"]  # the order of the notebook's inspectors
INSPECTOR = ".widget-vbox.nn-inspector"
DPI = 96


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(HERE / "browser" / "inspector_lab.ipynb", root / "inspector.ipynb")
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "api", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
        yield url, root
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def page(lab):
    url, _ = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "lab/tree/inspector.ipynb", timeout=180_000)
        page.locator(".jp-Notebook").wait_for(timeout=180_000)
        assert page.locator(".jp-FileBrowser").is_visible()  # the default layout: files open
        settle_kernel(page)
        page.get_by_role("menuitem", name="Run").click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            page.wait_for_function(
                f"document.querySelectorAll('{INSPECTOR}').length === 3", timeout=300_000
            )
        finally:
            page.screenshot(path=str(ARTIFACTS / "lab_opened.png"))
        yield page
        browser.close()


def settle_kernel(page):
    """Answer JupyterLab's "Select Kernel" dialog if it comes, and wait for an idle kernel."""
    for _ in range(120):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            dialog.get_by_role("button", name="Select").click()
        elif page.get_by_text("Python 3 (ipykernel) | Idle").count():
            return
        time.sleep(0.5)


def inspector(page, index):
    return page.locator(INSPECTOR).nth(index)


def click_and_wait(page, index, name):
    """Click a button of inspector ``index``, see it busy (its buttons stay disabled a moment
    after the work), and wait until it is ready again."""
    root = inspector(page, index)
    root.get_by_role("button", name=name, exact=True).click()
    page.wait_for_function(
        "(i) => [...document.querySelectorAll('%s')[i].querySelectorAll('button')]"
        ".some(b => b.disabled)" % INSPECTOR,
        arg=index,
        timeout=10_000,
    )
    wait_ready(page, index)


def wait_ready(page, index, timeout=120_000):
    page.wait_for_function(
        """(i) => {
            const root = document.querySelectorAll('%s')[i];
            return !root.querySelector('.nn-spin')
                && [...root.querySelectorAll('button')].every(b => !b.disabled);
        }"""
        % INSPECTOR,
        arg=index,
        timeout=timeout,
    )


LAYOUT = """(i) => {
    const root = document.querySelectorAll('%s')[i];
    const panel = root.closest('.jp-WindowedPanel-outer') || root.closest('.jp-Notebook');
    const right = panel.getBoundingClientRect().left + panel.clientWidth;
    const over = [];
    for (const el of [root, ...root.querySelectorAll('*')]) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > right + 0.5) over.push(`${el.tagName}.${el.className} ${r.right}`);
    }
    const scrolled = [panel, ...document.querySelectorAll('.jp-OutputArea-output')]
        .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.className);
    const tiles = [...root.querySelectorAll('img.nn-tile')].map(img => ({
        natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
        classes: img.className}));
    return {over, scrolled, right, tiles};
}""" % INSPECTOR


def check_layout(page, index, what):
    found = page.evaluate(LAYOUT, index)
    assert not found["over"], f"{what}: past the visible width {found['right']}: {found['over']}"
    assert not found["scrolled"], f"{what}: a sideways scroll in {found['scrolled']}"
    assert found["tiles"], f"{what}: no pictures"
    for tile in found["tiles"]:
        facts = dict(re.findall(r"nn-(heatmaps|colourbars|font)-(\d+)", tile["classes"]))
        assert tile["shown"] == tile["natural"], f"{what}: a picture scaled: {tile}"
        assert facts["heatmaps"] == facts["colourbars"], f"{what}: a heatmap without colour bar"
        assert int(facts["font"]) / 10 * DPI / 72 >= 11, f"{what}: text under 11 px: {tile}"


@pytest.mark.parametrize("index", range(3), ids=MODELS)
def test_each_event_fits_the_width_with_unscaled_readable_pictures(page, index):
    root = inspector(page, index)
    root.scroll_into_view_if_needed()
    name = MODELS[index]
    steps = [("step ▶", "forward"), ("phase ▶▶", "forward"), ("phase ▶▶", "loss"),
             ("phase ▶▶", "backward"), ("phase ▶▶", "update")]  # fmt: skip
    for k, (button, phase) in enumerate(steps):
        click_and_wait(page, index, button)
        header = root.locator(".nn-html").first.inner_text()
        assert f"{phase}:" in header, header
        check_layout(page, index, f"{name} {phase}")
        root.locator("img.nn-tile").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"lab_{name}_{k}_{phase}.png"))  # as seen


def test_busy_feedback_comes_at_once_and_a_click_meanwhile_is_not_replayed(page):
    index = 1  # the CNN: its steps take long enough to click during a run
    root = inspector(page, index)
    root.scroll_into_view_if_needed()
    root.locator("input[type=number]").fill("150")
    root.locator("input[type=number]").press("Enter")
    before = root.locator(".nn-html").first.inner_text()
    found = re.search(r"step (\d+) · event (\d+) of (\d+)", before)
    step, event, events = (int(n) for n in found.groups())
    last = step + 150 - (event < events)  # a step begun counts as the first of the 150
    delay = page.evaluate(
        """async (i) => {
            const root = document.querySelectorAll('%s')[i];
            const run = [...root.querySelectorAll('button')]
                .find(b => b.textContent.trim() === 'run N steps');
            const start = performance.now();
            let message = -1;
            run.click();
            while (performance.now() - start < 10000) {
                if (message < 0 && root.querySelector('.nn-spin')) message = performance.now() - start;
                if (message >= 0 && run.disabled) return [message, performance.now() - start];
                await new Promise(r => setTimeout(r, 2));
            }
            return [message, -1];
        }"""
        % INSPECTOR,
        index,
    )
    message, disabled = delay
    assert 0 <= message <= 300 and 0 <= disabled <= 300, f"busy: message after {message:.0f} ms, buttons disabled after {disabled:.0f} ms"
    box = root.get_by_role("button", name="step ▶", exact=True).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert root.locator(".nn-spin").count() == 1, "the run ended before the click: make it longer"
    page.screenshot(path=str(ARTIFACTS / "lab_busy.png"))
    wait_ready(page, index)
    time.sleep(1)  # a replayed click would arrive now
    after = root.locator(".nn-html").first.inner_text()
    assert f"step {last} · event {events} of {events}" in after, after
    assert root.locator("img.nn-title-loss-curve").count() == 1  # the curve stays in view


def test_the_saved_notebook_shows_the_last_view_of_each_inspector_without_its_kernel(page, lab):
    _, root = lab
    page.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "!document.querySelector('.jp-mod-dirty')", timeout=30_000
    )  # saved
    headers = [inspector(page, i).locator(".nn-html").first.inner_text() for i in range(3)]
    page.get_by_role("menuitem", name="Kernel").click()
    page.get_by_text("Shut Down Kernel", exact=True).click()
    saved = nbformat.read(root / "inspector.ipynb", as_version=4)
    outputs = [o for cell in saved.cells if cell.cell_type == "code" for o in cell.outputs]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 3 and all(o.data["image/png"] for o in pictures)
    page.reload()
    page.locator(".jp-Notebook").wait_for(timeout=120_000)
    settle_kernel(page)
    snapshots = page.locator("[id^=nn-snapshot-]")
    snapshots.first.wait_for(timeout=60_000)
    assert snapshots.count() == 3
    for k in range(3):
        snapshot = snapshots.nth(k)
        snapshot.scroll_into_view_if_needed()
        assert snapshot.is_visible() and snapshot.locator("img").count() >= 1
        assert headers[k].split(" · ")[1:3] == snapshot.locator("div").first.inner_text().split(
            " · "
        )[1:3]
    snapshots.nth(1).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab_saved_without_kernel.png"))
