"""The dashboard in a real headless Chromium: every chart draws its data, the console is clean.

Drives Debian's ``chromium`` (``apt-get install chromium``) through Playwright for Python,
pointed at it with ``executable_path`` (no Playwright browser download). The page comes from
a real ``ecorec serve`` process (plotly.js from ``/dashboard/plotly.js``) and from the file
``ecorec report`` writes (plotly.js inline). Screenshots are kept in ``artifacts/`` (ignored by
git) for a person to look at: ``dashboard.png`` and ``report.png``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecorec.core.config import StorageConfig
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.report.figures import CHARTS

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("ECOREC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
#: what each chart must show: its element id and the data it draws, read from Plotly's state
_CHART_STATE = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
    id: div.id,
    traces: div.data.length,
    points: div.data.reduce((n, t) => n + (t.y ? t.y.length : 0), 0),
    drawn: div.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
    title: div.layout.title.text,
}))
"""


def _browser_or_fail() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's (sudo apt-get install -y chromium) or "
            "set ECOREC_CHROMIUM to a Chromium binary; the dashboard test needs a real browser"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    with Stores(StorageConfig(database_url=f"sqlite:///{folder / 'ecorec.db'}")) as stores:
        spec = PlatformSpec(users=200, items=600, creators=20, advertisers=3, days=4, seed=5)
        write_platform(spec, stores.catalog, stores.events)
    (folder / "ecorec.toml").write_text(
        f'[storage]\ndatabase_url = "sqlite:///{folder / "ecorec.db"}"\n'
        f'models_url = "{folder / "models"}"\n'
        "[service]\ndashboard = true\n",
        encoding="utf-8",
    )
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(platform: Path) -> Iterator[str]:
    """The URL of ``/dashboard`` on a running ``ecorec serve`` (up once the page is ready)."""
    port = _free_port()
    ecorec = Path(sys.executable).with_name("ecorec")
    log = (platform / "serve.log").open("w")
    server = subprocess.Popen(
        [str(ecorec), "serve", "--config", str(platform / "ecorec.toml"), "--port", str(port)],
        cwd=platform,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/dashboard"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"ecorec serve exited: {(platform / 'serve.log').read_text()}")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/dashboard not ready in 120 s: {(platform / 'serve.log').read_text()}"
                )
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -r requirements-dev.txt")
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_browser_or_fail(), args=args)
        yield chromium
        chromium.close()


def _open(browser: Any, url: str, screenshot: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``url``, wait for every chart, save a screenshot; (chart states, console errors)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    origin = url.split("/dashboard")[0] if url.startswith("http") else "file://"
    page.on(  # the page must work offline: nothing may come from another host
        "request",
        lambda r: (
            None
            if r.url.startswith((origin, "data:"))
            else errors.append(f"network request: {r.url}")
        ),
    )
    page.goto(url, wait_until="load")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(CHARTS)}"
    )
    charts = page.evaluate(_CHART_STATE)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    health_index = page.inner_text("#health-index")
    page.close()
    assert health_index != "n/a"
    return charts, errors


def _assert_drawn(charts: list[dict[str, Any]], errors: list[str]) -> None:
    assert errors == []
    assert [c["id"] for c in charts] == [f"chart-{n}" for n in (
        "index", "user-value", "ecosystem", "business", "revenue", "lorenz", "long-tail",
        "creator-tiers", "retention", "fairness",
    )]  # fmt: skip
    for chart in charts:
        assert chart["traces"] > 0 and chart["points"] > 0, chart
        assert chart["drawn"] >= chart["traces"], chart  # each trace became SVG


def test_served_dashboard_renders_every_chart(browser: Any, served: str) -> None:
    charts, errors = _open(browser, served, "dashboard.png")
    _assert_drawn(charts, errors)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000


def test_report_file_renders_offline(browser: Any, platform: Path) -> None:
    out = platform / "report.html"
    ecorec = shutil.which("ecorec", path=str(Path(sys.executable).parent))
    assert ecorec is not None
    subprocess.run(
        [ecorec, "report", "--config", str(platform / "ecorec.toml"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    charts, errors = _open(browser, out.as_uri(), "report.png")
    _assert_drawn(charts, errors)
