"""The web UI and the HTML report in a real browser: Debian's chromium, headless, loads the Registry tab during
a run, the charts page, and the report after the run; the DOM is checked (the table's units, the charts'
series holding data) and screenshots are written under reports/ (and docs/ with REGISTRY_TASKS_DOCS=1, for
the README) for people to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry, free_port

from ..support.helpers import ROOT, locust_command

SHOTS = ROOT / "reports" / "web-ui"
DOCS = ROOT / "docs"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip


class Browser:
    """One headless chromium per call, with a profile directory of its own (the machine's network is closed)."""

    def __init__(self, path: str, profile: Path) -> None:
        self.path, self.profile = path, profile

    def run(self, url: str, *args: str, budget_ms: int = 2500) -> str:
        """`budget_ms` of virtual time to render (under the charts page's 3 s refresh)."""
        command = [self.path, *FLAGS, f"--user-data-dir={self.profile}", f"--virtual-time-budget={budget_ms}", *args,
                   url]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def dom(self, url: str) -> str:
        return self.run(url, "--dump-dom")

    def screenshot(self, url: str, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        path.unlink(missing_ok=True)
        for _ in range(3):  # headless chromium now and then exits 0 without writing it (seen once in CI, busy)
            self.run(url, f"--screenshot={path}", "--window-size=1400,900", "--hide-scrollbars")
            if path.exists():
                break
        assert path.stat().st_size > 10_000  # a rendered page, not a blank one
        if os.environ.get("REGISTRY_TASKS_DOCS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copy(path, DOCS / name)
        return path


def wait_for(ready: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the web UI never got there"
        time.sleep(0.5)


def answers(url: str) -> bool:
    try:
        return b"download MB/s" in urllib.request.urlopen(url, timeout=5).read()  # noqa: S310 - loopback
    except OSError:
        return False


def series_points(dom: str, label: str) -> int:
    found = re.search(rf'data-series="{re.escape(label)}" data-points="(\d+)"', dom)
    return int(found.group(1)) if found else 0


def test_the_registry_tab_charts_and_report_in_a_browser(
    registry: LocalRegistry, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    browser = Browser(require_tool("chromium"), tmp_path / "chrome")
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    report = tmp_path / "report.html"
    command = locust_command(
        "-H", registry.url, "--autostart", "--autoquit", "1", "-t", "20s", "-u", "4", "-r", "4",
        "--synthetic-images", "2x1MiB", "--repository-prefix", "webui", "--html", str(report),
        "--web-host", "127.0.0.1", "--web-port", str(port), headless=False,
    )  # fmt: skip
    with open(tmp_path / "locust.log", "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: answers(f"{web}/registry/charts"))
        time.sleep(6)  # a few samples into the run
        for _ in range(4):  # the tab renders its rows once the UI's first stats poll is back: a busy machine is slow
            tab = browser.run(f"{web}/?tab=registry", "--dump-dom", budget_ms=5000)
            units = re.findall(r">(\d+(?:\.\d+)?) (KB|MB|GB)</td>", tab)
            if len(units) >= 3:
                break
        assert "MB/s (last 6 s)" in tab and ">Moved<" in tab
        assert len(units) >= 3, tab[-3000:]  # bytes moved, in human units, per entry
        assert re.search(r">blob-get</td>", tab) and 'id="registry-charts-link"' in tab
        charts = browser.dom(f"{web}/registry/charts")
        assert series_points(charts, "download MB/s") >= 2 and series_points(charts, "images/s") >= 2
        browser.screenshot(f"{web}/?tab=registry", "registry-tab.png")
        browser.screenshot(f"{web}/registry/charts", "registry-charts.png")
        assert process.wait(timeout=60) == 0, (tmp_path / "locust.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    page = browser.dom(report.as_uri())
    assert 'id="registry-throughput"' in page and "<td>blob-get</td>" in page
    assert series_points(page, "download MB/s") >= 4  # the whole run's samples
    browser.screenshot(report.as_uri(), "html-report.png")
