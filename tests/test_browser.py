"""The explorers in a real browser: JupyterLab on 127.0.0.1 in headless Chromium, driven with
Playwright. A lesson's explorer cell (taken from its solutions notebook, with the cells it
needs) runs in a real kernel; the test types step sizes into the slider's readout, as a
learner can, and reads what the page then shows.

Skipped, with the reason, when Playwright, JupyterLab or the system's Chromium is missing
(``pip install "dl-workshop[lesson,test]"``; Chromium from the system's packages: Playwright's
own browser download is never used). Every process is bounded in time and ended by its pid.

Run as a script, it saves screenshots of both lessons' explorers at step sizes that
converge, oscillate and diverge (the pictures of ``docs/explorers.md``)::

    python tests/test_browser.py docs/images
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
#: The flags every Chromium here runs with (no network beyond loopback, no GPU, no sandbox
#: inside a container); Playwright adds ``--headless``'s own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Seconds JupyterLab may take to answer, a cell run to finish, a slider move to redraw.
SERVER_TIMEOUT = 60
RUN_TIMEOUT = 90
MOVE_TIMEOUT = 30

#: Per lesson: its solutions notebook, and how the code cells the explorer needs begin (the
#: explorer's own cell last).
LESSONS = {
    "linear": (
        "gradient-based-optimization-solutions.ipynb",
        ["from dl_workshop.lesson.data import b_true", "explore_step_size(x, y)"],
    ),
    "logistic": (
        "logistic-regression-solutions.ipynb",
        [
            "import jax.numpy as jnp",
            "def logistic(z)",
            "x = np.linspace(-5, 5, 100)",
            "def logistic_model(theta, x)",
            "def logistic_loss(theta, model, x, y)",
            "from dl_workshop.teaching.widgets import explore_step_size",
        ],
    ),
}


def missing() -> str | None:
    """Why the browser cannot run here, or ``None`` when it can."""
    for module, extra in (("playwright", "test"), ("jupyterlab", "lesson")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'dl-workshop[{extra}]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (install the system's chromium package)"
    return None


def lesson_notebook(lesson: str, folder: Path) -> Path:
    """A notebook of the lesson's explorer cell and the cells it needs, written to ``folder``."""
    import nbformat

    name, starts = LESSONS[lesson]
    source = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    cells = []
    for start in starts:
        found = [cell for cell in code if cell.source.startswith(start)]
        assert found, f"{name} has no code cell starting with {start!r} any more"
        cells.append(nbformat.v4.new_code_cell(found[-1].source))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=source.metadata)
    path = folder / f"{lesson}.ipynb"
    nbformat.write(notebook, path)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _end(process: subprocess.Popen) -> None:
    """End ``process`` and the process group it leads (its kernels), by its pid."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def jupyterlab(folder: Path) -> Iterator[str]:
    """JupyterLab serving ``folder`` on 127.0.0.1; yields its base URL with the token."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):  # fmt: skip
        env[var] = str(folder / sub)
    # No "get notified about Jupyter news?" toast over the page (and no fetch of it).
    notification = folder / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if os.geteuid() == 0:  # a container's root: JupyterLab asks to be told it is meant
        command.append("--allow-root")
    log = open(folder / "jupyterlab.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    json.load(r)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start: "
                        + (folder / "jupyterlab.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.3)
        yield f"{base}/lab/tree/{{}}?token={token}"
    finally:
        _end(server)
        log.close()


@contextlib.contextmanager
def chromium_page() -> Iterator[object]:
    """A page of headless Chromium (Playwright gives it a fresh ``--user-data-dir``); the
    browser's process is ended by its pid afterwards, whatever happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, timeout=30_000
        )
        info = browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")
        pids = [p["id"] for p in info["processInfo"] if p["type"] == "browser"]
        try:
            yield browser.new_page(viewport={"width": 1300, "height": 1200})
        finally:
            with contextlib.suppress(Exception):
                browser.close()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def run_notebook(page, url: str) -> object:
    """Open the notebook at ``url``, run all its cells; the last cell (the explorer's)."""
    page.set_default_timeout(RUN_TIMEOUT * 1000)
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    # JupyterLab may ask which kernel to start: the notebook's own (python3).
    select = page.locator(".jp-Dialog-button.jp-mod-accept", has_text="Select")
    with contextlib.suppress(Exception):
        select.wait_for(timeout=5_000)
        select.click()
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    with contextlib.suppress(Exception):  # the file browser closed: room for the notebook
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click(timeout=5_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    cell.locator(".widget-output img").first.wait_for()
    return cell


def set_step_size(page, cell, value: float) -> str:
    """Type ``value`` into the step-size slider's readout, as a learner can; wait for the
    figure to be redrawn and return the text under it."""
    image = cell.locator(".widget-output img").first
    before = image.get_attribute("src")
    readout = cell.locator(".widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{value:g}")
    page.keyboard.press("Enter")
    page.wait_for_function(
        """([cell, before]) => {
            const img = cell.querySelector('.widget-output img');
            return img && img.getAttribute('src') !== before;
        }""",
        arg=[cell.element_handle(), before],
        timeout=MOVE_TIMEOUT * 1000,
    )
    page.wait_for_timeout(300)  # the text printed under the image follows it
    return cell.locator(".widget-output").first.inner_text()


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_the_linear_explorer_in_a_real_browser_redraws_and_says_what_went_wrong(tmp_path):
    with jupyterlab(tmp_path) as url, chromium_page() as page:
        path = lesson_notebook("linear", tmp_path)
        cell = run_notebook(page, url.format(path.name))
        # The line explorer of the cell before rendered too: its two sliders and its figure.
        line = page.locator(".jp-Notebook .jp-CodeCell").first
        assert line.locator(".widget-readout").count() == 2
        assert line.locator(".widget-output img").count() == 1
        note = cell.locator(".widget-html").first.inner_text()
        assert "kernel restart" in note and "run this cell again" in note
        text = set_step_size(page, cell, 0.5)
        assert "The step size 0.5 is too large" in text and "Try a step size of at most" in text
        text = set_step_size(page, cell, 0.05)
        assert "too large" not in text
        shown = cell.locator(".widget-readout").first.inner_text()
        assert float(shown) == pytest.approx(0.05, rel=0.15)  # the log slider's nearest value


def screenshots(folder: Path) -> list[Path]:
    """Both lessons' explorers at step sizes that converge, oscillate and diverge, saved as
    PNGs in ``folder``; returns their paths."""
    steps = {
        "linear": [("converges", 0.02), ("oscillates", 0.1), ("diverges", 0.5)],
        "logistic": [("converges", 0.1), ("largest-that-works", 0.141), ("diverges", 1.0)],
    }
    saved = []
    folder.mkdir(parents=True, exist_ok=True)
    for lesson, cases in steps.items():
        with (
            tempfile.TemporaryDirectory() as tmp,
            jupyterlab(Path(tmp)) as url,
            chromium_page() as page,
        ):
            cell = run_notebook(page, url.format(lesson_notebook(lesson, Path(tmp)).name))
            for what, value in cases:
                text = set_step_size(page, cell, value)
                target = folder / f"explorer-{lesson}-{what}.png"
                cell.locator(".jp-OutputArea").first.screenshot(path=str(target))
                print(f"{target}: step size {value}: {text.strip()[-200:]!r}")
                saved.append(target)
    return saved


if __name__ == "__main__":
    reason = missing()
    if reason:
        sys.exit(f"cannot take screenshots: {reason}")
    screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
