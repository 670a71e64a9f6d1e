"""A real browser (Debian's chromium through Playwright) on a running `booking dashboard`: every page opens by its
deep link (/overview, /capacity, ...) without a Streamlit exception, a filter reaches the URL, and the export button
downloads the bookings."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.dashboard.conftest import History

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
PAGES = [  # url path, the page's title
    ("overview", "Overview"),
    ("", "Overview"),  # the root URL forwards to /overview
    ("capacity", "Capacity utilization"),
    ("cancellations", "Cancellation patterns"),
    ("waitlists", "Waitlists & notifications"),
    ("audit", "Audit log"),
    ("integrity", "Integrity"),
    ("export", "Export booking history"),
]

if not CHROMIUM.exists():
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard_url(history: History) -> Iterator[str]:
    """A `booking dashboard` subprocess on a free port, reading the test history."""
    port = free_port()
    env = os.environ | {"BOOKING_DATABASE_URL": history.url}
    cmd = [sys.executable, "-c", "from booking_core.cli import main; main()", "dashboard", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.terminate()  # `booking dashboard` stops its Streamlit child
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _kill_group(proc.pid)
        if proc.stdout:
            proc.stdout.close()


def _kill_group(pgid: int) -> None:
    """Whatever is left of the dashboard's process group (nothing, when `booking dashboard` did its job)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _wait_healthy(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"booking dashboard exited with {proc.returncode}: {out}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("booking dashboard did not answer /_stcore/health within 90 s")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


DRAWN = "figures are cached for up to"  # the footer every page draws last
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
  && !document.querySelector('[data-testid="stSkeleton"]') && !document.querySelector('[data-stale="true"]')"""


def settle(page: Page, title: str) -> None:
    """Wait for the page's title, then until Streamlit has stayed idle (no run, no placeholders) for a moment."""
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
    page.get_by_text(DRAWN).wait_for(timeout=60_000)
    for _ in range(2):  # a rerun can start just after the first idle moment (the URL being written)
        page.wait_for_function(IDLE, timeout=60_000)
        page.wait_for_timeout(750)
    page.wait_for_function(IDLE, timeout=60_000)


def query(history: History) -> str:
    return "&".join(f"{k}={v}" for k, v in history.query_params().items())


def shoot(page: Page, folder: Path, name: str) -> None:
    shot = folder / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / shot.name)


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_every_page_opens_by_its_deep_link_without_an_exception(
    dashboard_url: str, page: Page, history: History, tmp_path: Path, path: str, title: str
) -> None:
    page.goto(f"{dashboard_url}/{path}?{query(history)}")
    settle(page, title)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_text(f"times in {history.shop.timezone}").count() == 1
    path_now, _, query_now = page.url.partition("?")
    assert path_now == f"{dashboard_url}/{path or 'overview'}"  # a stable URL, the root's included
    assert f"business={history.business}" in query_now  # the shared filters survive the deep link
    shoot(page, tmp_path, path or "root")


def test_a_filter_in_the_browser_is_written_to_the_url(
    dashboard_url: str, page: Page, history: History, tmp_path: Path
) -> None:
    page.goto(f"{dashboard_url}/capacity?{query(history)}")
    settle(page, "Capacity utilization")
    page.locator('[data-testid="stButtonGroup"]').get_by_text("week", exact=True).click()
    page.wait_for_url("**grain=week**", timeout=30_000)
    settle(page, "Capacity utilization")
    assert page.locator('[data-testid="stException"]').count() == 0
    shoot(page, tmp_path, "capacity-per-week")


def test_the_export_button_downloads_the_bookings_as_csv(
    dashboard_url: str, page: Page, history: History, tmp_path: Path
) -> None:
    page.goto(f"{dashboard_url}/export?{query(history)}")
    settle(page, "Export booking history")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "bookings.csv"
    download.value.save_as(saved)
    rows = history.scalar(
        "SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id"
        " WHERE b.business_id = %(b)s AND s.local_date BETWEEN %(f)s AND %(t)s",
        b=history.business,
        f=history.query_params()["from"],
        t=history.query_params()["to"],
    )
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("business,timezone,booking_id")
    assert len(lines) == int(rows) + 1  # type: ignore[call-overload]
    shoot(page, tmp_path, "export-downloaded")
