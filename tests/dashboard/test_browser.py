"""A real browser (Debian's chromium through Playwright) on a running `booking dashboard` behind its login, through a
real OpenID Connect provider (oidc-provider-mock): a person logs in, sees their business and not another's, logs
out; every page opens by its deep link (/overview, /capacity, ...) without a Streamlit exception, a filter reaches the
URL, and the export button downloads the bookings, masked by the person's role."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from booking_core.reports.common import booking_ref
from booking_demo import login
from tests.conftest import IN_CI
from tests.dashboard.conftest import ADMIN, ANALYST, MANAGER, OPS, STRANGER, History

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

from playwright.sync_api import Browser, Locator, Page, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OpenID Connect provider the demo starts, in this process, listing the known history's people."""
    people = [login.Person(p, "test", None) for p in (MANAGER, OPS, ANALYST, ADMIN, STRANGER)]
    url, stop = login.start_provider("127.0.0.1", free_port(), people)
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="module")
def dashboard_url(history: History, provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`booking dashboard --secrets FILE` on a free port, reading the test history, logging in at the provider."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    secrets = login.write_secrets(tmp_path_factory.mktemp("login") / "secrets.toml", base, provider)
    env = os.environ | {"BOOKING_DATABASE_URL": history.url}
    cmd = [sys.executable, "-c", "from booking_core.cli import main; main()", "dashboard", "--port", str(port)]
    cmd += ["--secrets", str(secrets)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
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


def log_in(page: Page, dashboard_url: str, person: str, *, member: bool = True) -> None:
    """Log in as a person does: the dashboard's button, the provider's form (its listed people), back."""
    page.goto(dashboard_url)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.get_by_role("button", name=person, exact=True).click()
    page.wait_for_url(f"{dashboard_url}/**", timeout=30_000)
    page.get_by_text(f"Signed in as {person}" if member else f"You are signed in as {person}").wait_for(timeout=60_000)


@pytest.fixture(scope="module")
def manager_state(browser: Browser, dashboard_url: str) -> dict[str, object]:
    """The manager's logged-in browser state (Streamlit's identity cookie), for every page test to start from."""
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, dashboard_url, MANAGER)
        return dict(context.storage_state())
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, manager_state: dict[str, object]) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True, storage_state=manager_state
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A browser nobody has logged in with."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def wide_page(browser: Browser, manager_state: dict[str, object]) -> Iterator[Page]:
    """A page wide enough that a table draws every column (the grid draws only the columns in view)."""
    context = browser.new_context(viewport={"width": 2600, "height": 1200}, storage_state=manager_state)
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


def download_csv(page: Page, folder: Path) -> Path:
    """Click the Export page's CSV button; the file the browser saved."""
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = folder / "bookings.csv"
    download.value.save_as(saved)
    return saved


def bookings_in_range(history: History, *, drafts: bool = True) -> int:
    """The known history's bookings in the pages' date range, counted in SQL."""
    return int(
        history.scalar(  # type: ignore[call-overload]
            "SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id"
            " WHERE b.business_id = %(b)s AND s.local_date BETWEEN %(f)s AND %(t)s"
            " AND (%(drafts)s OR b.status <> 'draft')",
            b=history.business,
            f=history.query_params()["from"],
            t=history.query_params()["to"],
            drafts=drafts,
        )
    )


def test_the_export_button_downloads_the_bookings_as_csv(
    dashboard_url: str, page: Page, history: History, tmp_path: Path
) -> None:
    page.goto(f"{dashboard_url}/export?{query(history)}")
    settle(page, "Export booking history")
    saved = download_csv(page, tmp_path)
    rows = bookings_in_range(history)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("business,timezone,booking_id")
    assert len(lines) == rows + 1
    shoot(page, tmp_path, "export-downloaded")


# ---------------------------------------------------------------- names, never bytes or ids, in rendered tables
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
RAW = ("{", "b'", "\\x", "UUID(")  # a dict of bytes, a bytes literal, an escaped byte, a UUID repr


def rendered_table(page: Page, index: int) -> list[dict[str, str]]:
    """The rows of the index-th st.dataframe as drawn (its accessible grid: the cells in view), by header."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    # The cells are the grid's accessible copy inside its canvas: attached, never visible.
    grid.locator('td[role="gridcell"]').first.wait_for(state="attached", timeout=30_000)

    def text(cell: Locator) -> str:
        return (cell.text_content() or "").strip()

    headers = {th.get_attribute("aria-colindex"): text(th) for th in grid.locator("th[aria-colindex]").all()}
    return [
        {headers.get(td.get_attribute("aria-colindex"), "?"): text(td) for td in tr.locator("td").all()}
        for tr in grid.locator('tbody tr[role="row"]').all()
    ]


LINKS = "timeline"  # a link column: drawn as "open timeline", its accessible copy is the link's URL


def assert_no_raw_values(rows: list[dict[str, str]]) -> None:
    """No cell shows bytes, a dict, or a bare UUID (every id has a name or a short reference)."""
    assert rows, "the table drew no rows"
    for row in rows:
        for column, cell in row.items():
            if column == LINKS:
                assert re.fullmatch(r"(audit\?.*&booking=[0-9A-F]{4}-[0-9A-F]{4})?", cell), cell
                continue
            assert not any(raw in cell for raw in RAW), f"{column}: {cell!r} is a raw value"
            assert not UUID.search(cell), f"{column}: {cell!r} is a bare UUID"


def first_table(page: Page, url: str, title: str, shot: Path) -> list[dict[str, str]]:
    """Open `url`, wait for the page `title`, screenshot it as `shot`; its first table, free of raw values."""
    page.goto(url)
    settle(page, title)
    rows = rendered_table(page, 0)
    shoot(page, shot.parent, shot.name)
    assert_no_raw_values(rows)
    return rows


def customer_of(history: History, booking: uuid.UUID) -> str:
    name = history.scalar(
        "SELECT c.name FROM bookings b JOIN customers c ON c.id = b.customer_id WHERE b.id = %(bk)s", bk=booking
    )
    return str(name)


def test_the_capacity_page_lists_bookings_to_contact_by_reference_and_customer_name(
    dashboard_url: str, wide_page: Page, history: History, tmp_path: Path
) -> None:
    rows = first_table(
        wide_page,
        f"{dashboard_url}/capacity?{query(history)}",
        "Capacity utilization",
        tmp_path / "capacity-to-contact",
    )
    expected = history.sql(
        "SELECT b.id, c.name, s.booked_seats FROM bookings b JOIN time_slots s ON s.id = b.slot_id"
        " JOIN customers c ON c.id = b.customer_id WHERE b.business_id = %(b)s AND s.starts_at > now()"
        " AND (s.is_legacy OR s.booked_seats > s.max_capacity)"
        " AND b.status IN ('confirmed', 'checked_in', 'completed', 'no_show')",
        b=history.business,
    )
    assert sorted((r["booking"], r["customer"], r["booked"]) for r in rows) == sorted(
        (booking_ref(str(b)), name, str(seats)) for b, name, seats in expected
    )
    assert all(r["timeline"].endswith(f"&booking={r['booking']}") for r in rows)


def test_the_audit_log_names_subjects_customers_and_actors(
    dashboard_url: str, wide_page: Page, history: History, tmp_path: Path
) -> None:
    rows = first_table(wide_page, f"{dashboard_url}/audit?{query(history)}", "Audit log", tmp_path / "audit-log")
    newest = history.sql(
        "SELECT a.action, a.performed_by_id FROM booking_audit_log a WHERE a.business_id = %(b)s"
        " ORDER BY a.id DESC LIMIT 1",
        b=history.business,
    )[0]
    assert (rows[0]["action"], rows[0]["actor"]) == newest


def test_a_bookings_timeline_opens_by_its_reference_with_names_in_every_cell(
    dashboard_url: str, wide_page: Page, history: History, tmp_path: Path
) -> None:
    booking = history.bookings["cancel_sick"]  # cancelled by its customer: a customer actor
    ref = booking_ref(booking)
    wide_page.goto(f"{dashboard_url}/audit?{query(history)}&booking={ref.lower().replace('-', '')}")
    settle(wide_page, "Audit log")
    wide_page.get_by_role("heading", name=f"Timeline of booking {ref}").wait_for(timeout=30_000)
    diffs, rows = rendered_table(wide_page, 0), rendered_table(wide_page, 1)
    shoot(wide_page, tmp_path, "audit-timeline")
    assert_no_raw_values(diffs)
    assert_no_raw_values(rows)
    customer = customer_of(history, booking)
    slot = history.sql(
        "SELECT to_char(s.local_date, 'YYYY-MM-DD') || ' ' || to_char(s.local_start, 'HH24:MI')"
        " FROM bookings b JOIN time_slots s ON s.id = b.slot_id WHERE b.id = %(bk)s",
        bk=booking,
    )[0][0]
    # The grid draws the rows in view (the created row's fields, oldest first): ids read as names there.
    after = {d["field"]: d["after"] for d in diffs}
    assert after["customer_id"] == customer
    assert after.get("slot_id", slot) == slot
    actions = history.sql(
        "SELECT action, performed_by::text FROM booking_audit_log WHERE booking_id = %(bk)s ORDER BY id DESC",
        bk=booking,
    )
    assert [(r["action"], r["booking"], r["customer"]) for r in rows] == [(a, ref, customer) for a, _ in actions]
    assert {r["actor"] for r, (_, kind) in zip(rows, actions, strict=True) if kind == "customer"} == {customer}


# ---------------------------------------------------------------- the login: each person sees their own business
@pytest.fixture(scope="module")
def other_business(history: History) -> str:
    """Business B, with bookings, of which none of the known history's people is a member: its name."""
    from booking_core import connect
    from tests.conftest import MONDAY
    from tests.factories import Shop

    with connect(history.url) as system:
        shop = Shop.create(system, now=MONDAY, customers=2)
        for i, slot in enumerate(shop.slots(days=7)[:2]):
            shop.book(slot, party=1, customer=i)
    name = history.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=shop.business_id)
    return f"{name}|{shop.business_id}"


def metric(page: Page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_a_manager_logs_in_sees_their_business_not_anothers_and_logs_out(
    dashboard_url: str, fresh_page: Page, history: History, other_business: str, tmp_path: Path
) -> None:
    page, (b_name, b_id) = fresh_page, other_business.split("|")
    a_name = str(history.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=history.business))
    page.goto(f"{dashboard_url}/overview?{query(history)}")
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    assert a_name not in page.content() and page.locator('[data-testid="stMetric"]').count() == 0
    shoot(page, tmp_path, "login")

    log_in(page, dashboard_url, MANAGER)
    page.goto(f"{dashboard_url}/overview?{query(history)}")
    settle(page, "Overview")
    assert page.get_by_text(f"Signed in as {MANAGER} (manager)").count() == 1
    assert metric(page, "Bookings") == f"{bookings_in_range(history, drafts=False):,}"
    shoot(page, tmp_path, "overview-as-manager")

    page.goto(f"{dashboard_url}/overview?business={b_id}")
    page.get_by_text("which is not one of yours").wait_for(timeout=60_000)
    page.wait_for_function(IDLE, timeout=60_000)
    assert b_name not in page.inner_text("body")
    assert page.locator('[data-testid="stMetric"]').count() == 0
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    offered = page.get_by_role("option").all_inner_texts()
    assert offered and all(b_name not in o for o in offered) and any(a_name in o for o in offered)
    page.keyboard.press("Escape")
    shoot(page, tmp_path, "other-business-refused")

    page.get_by_role("button", name="Log out").click()
    # Streamlit ends the session at the provider too (OpenID Connect RP-initiated logout): its page, then back.
    page.get_by_role("button", name="End session").click()
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    page.goto(f"{dashboard_url}/overview?{query(history)}")
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_an_analysts_export_is_pseudonymized_and_recorded(
    dashboard_url: str, fresh_page: Page, history: History, tmp_path: Path
) -> None:
    import csv

    page = fresh_page
    log_in(page, dashboard_url, ANALYST)
    page.goto(f"{dashboard_url}/export?{query(history)}")
    settle(page, "Export booking history")
    rows = list(csv.DictReader(download_csv(page, tmp_path).read_text().splitlines()))
    names = {str(r[0]) for r in history.sql("SELECT name FROM customers WHERE business_id = %(b)s", b=history.business)}
    assert rows and all(r["customer"].startswith("customer-") and r["customer"] not in names for r in rows)
    assert {r["customer_email"] for r in rows} == {""}
    recorded = history.sql(
        "SELECT what, row_count FROM access_log WHERE person = %(p)s AND what = 'export' ORDER BY id DESC LIMIT 1",
        p=ANALYST,
    )
    assert recorded == [("export", len(rows))]


def test_someone_with_no_membership_logs_in_and_sees_nothing(
    dashboard_url: str, fresh_page: Page, history: History
) -> None:
    log_in(fresh_page, dashboard_url, STRANGER, member=False)
    fresh_page.goto(f"{dashboard_url}/overview?{query(history)}")
    fresh_page.get_by_text("you are a member of no business").wait_for(timeout=60_000)
    assert fresh_page.locator('[data-testid="stMetric"]').count() == 0
