"""Every dashboard page, run with AppTest on a known history: the figures shown equal independent SQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from booking_core.reports.common import booking_ref, ref
from tests.dashboard.conftest import APP, FROM, STRANGER, TO, History, login, open_integrity

# The slots of the page's business and date range, and the (non-draft) bookings in them.
IN_RANGE = sql.SQL("s.business_id = %(b)s AND s.local_date BETWEEN %(f)s AND %(t)s")
BOOKINGS = sql.SQL(
    "FROM bookings b JOIN time_slots s ON s.id = b.slot_id WHERE {in_range} AND b.status <> 'draft'"
).format(in_range=IN_RANGE)


def on_range(template: str) -> sql.Composed:
    """Independent SQL over the page's scope: `{in_range}` and `{bookings}` are filled in."""
    return sql.SQL(template).format(in_range=IN_RANGE, bookings=BOOKINGS)


@pytest.fixture
def dashboard(history: History, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("BOOKING_DATABASE_URL", history.url)
    at = login(AppTest.from_file(str(APP), default_timeout=60))
    at.query_params.update(history.query_params())
    yield at


def open_page(at: AppTest, page: str | None = None) -> AppTest:
    at.run()
    if page:
        at.switch_page(f"screens/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def pct(part: object, whole: object) -> str:
    return f"{int(part) / int(whole):.1%}"  # type: ignore[call-overload]


def figures(h: History) -> dict[str, object]:
    """The overview's figures, counted straight from the tables the library writes."""
    p = {"b": h.business, "f": FROM, "t": TO}
    cancelled = on_range(
        "SELECT count(DISTINCT t.booking_id) FROM booking_state_transitions t JOIN bookings b ON b.id = t.booking_id"
        " JOIN time_slots s ON s.id = b.slot_id WHERE {in_range} AND t.to_status = %(st)s"
    )
    return {
        "bookings": h.scalar(on_range("SELECT count(*) {bookings}"), **p),
        "cancelled": h.scalar(cancelled, st="cancelled", **p),
        "no_shows": h.scalar(cancelled, st="no_show", **p),
        "seats": h.scalar(
            on_range("SELECT sum(booked_seats) FROM time_slots s WHERE {in_range} AND NOT is_legacy"), **p
        ),
        "capacity": h.scalar(
            on_range("SELECT sum(max_capacity) FROM time_slots s WHERE {in_range} AND NOT is_legacy"), **p
        ),
        "revenue": h.scalar(
            on_range(
                "SELECT sum(pm.amount - pm.refunded_amount) FROM payments pm JOIN bookings b ON b.id = pm.booking_id"
                " JOIN time_slots s ON s.id = b.slot_id WHERE {in_range}"
                " AND pm.status IN ('paid', 'partially_refunded', 'refunded')"
            ),
            **p,
        ),
    }


def test_overview_shows_the_figures_sql_computes(dashboard: AppTest, history: History) -> None:
    shown = metrics(open_page(dashboard))
    f = figures(history)
    assert shown["Bookings"] == f"{f['bookings']:,}"
    assert shown["Utilization"] == pct(f["seats"], f["capacity"])
    assert shown["Cancellation rate"] == pct(f["cancelled"], f["bookings"])
    assert shown["No-show rate"] == pct(f["no_shows"], f["bookings"])
    assert shown["Revenue"] == f"{f['revenue']:,.2f} EUR"
    last = history.sql(
        "SELECT r.status, sum(x.violation_count) FROM integrity_check_runs r JOIN integrity_check_results x"
        " ON x.run_id = r.id GROUP BY r.id ORDER BY r.started_at DESC LIMIT 1"
    )[0]
    assert shown["Open integrity violations"] == str(last[1])
    assert shown["Last check run"] == last[0]


def test_overview_compares_with_the_period_before(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard)
    bookings = next(m for m in at.metric if m.label == "Bookings")
    assert bookings.delta == f"+{figures(history)['bookings']}"  # nothing was booked the two weeks before
    assert "2029-12-24 to 2030-01-06" in " ".join(c.value for c in at.caption)


def test_capacity_page_shows_utilization_and_the_bookings_ops_must_contact(
    dashboard: AppTest, history: History
) -> None:
    at = open_page(dashboard, "capacity")
    f = figures(history)
    to_contact = history.scalar(
        "SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id WHERE s.business_id = %(b)s"
        " AND s.starts_at > now() AND (s.is_legacy OR s.booked_seats > s.max_capacity)"
        " AND b.status IN ('confirmed', 'checked_in', 'completed', 'no_show')",
        b=history.business,
    )
    assert metrics(at) == {
        "Utilization": pct(f["seats"], f["capacity"]),
        "Bookings to contact": str(to_contact),
    }
    assert len(at.get("plotly_chart")) == 4  # over time, heatmap, by service, by resource


def test_sidebar_filters_are_written_to_the_url_and_survive_a_page_switch(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard)
    service = history.scalar("SELECT id FROM services WHERE business_id = %(b)s", b=history.business)
    at.sidebar.selectbox(key="f_service").set_value(str(service)).run()
    assert at.query_params["service"] == str(service)
    assert metrics(at)["Bookings"] == f"{figures(history)['bookings']:,}"  # the only service
    del at.query_params["service"]  # what a page switch in the browser does to the URL
    at.switch_page("screens/capacity.py").run()
    assert at.sidebar.selectbox(key="f_service").value == str(service)
    assert at.query_params["service"] == str(service)


def test_a_shared_url_opens_the_same_view(dashboard: AppTest, history: History) -> None:
    service = history.scalar("SELECT id FROM services WHERE business_id = %(b)s", b=history.business)
    dashboard.query_params["service"] = str(service)
    at = open_page(dashboard, "capacity")
    at.segmented_control(key="grain").set_value("week").run()
    assert not at.exception
    assert at.query_params == history.query_params() | {"service": str(service), "grain": "week"}
    assert len(at.get("plotly_chart")) == 4


def test_cancellation_page_counts_cancellations_by_reason_and_actor(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "cancellations")
    f = figures(history)
    shown = metrics(at)
    assert shown["Cancellations"] == str(f["cancelled"])
    assert shown["Cancellation rate"] == pct(f["cancelled"], f["bookings"])
    by_reason = history.sql(
        on_range(
            "SELECT coalesce(t.reason, '(no reason given)'), count(*) FROM booking_state_transitions t"
            " JOIN bookings b ON b.id = t.booking_id JOIN time_slots s ON s.id = b.slot_id"
            " WHERE {in_range} AND t.to_status = 'cancelled' GROUP BY 1"
        ),
        b=history.business,
        f=FROM,
        t=TO,
    )
    table = at.dataframe[0].value
    assert dict(zip(table["reason"], table["cancellations"], strict=True)) == dict(by_reason)


def test_audit_page_shows_a_bookings_timeline_with_its_diffs(dashboard: AppTest, history: History) -> None:
    booking = history.bookings["paid"]
    dashboard.query_params["booking"] = str(booking)
    at = open_page(dashboard, "audit")
    # switch_page drops the page's own parameters, as the browser does: set the booking again.
    at.text_input(key="a_booking").set_value(str(booking)).run()
    rows = history.scalar("SELECT count(*) FROM booking_audit_log WHERE booking_id = %(bk)s", bk=booking)
    assert metrics(at)["Changes recorded"] == str(rows)
    diffs = at.dataframe[0].value
    assert {"status", "payment_status"} <= set(diffs["field"])
    assert at.query_params["booking"] == str(booking)


def test_audit_page_filters_by_channel_and_verifies_the_chain(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "audit")
    at.selectbox(key="a_channel").set_value("sql").run()
    assert any("No audit rows match" in i.value for i in at.info)
    at.button(key="a_verify").click().run()
    links = history.scalar("SELECT count(*) FROM audit_chain WHERE business_id = %(b)s", b=history.business)
    shown = metrics(at)
    assert shown["Links"] == f"{links:,}"
    assert shown["Chain"] == "intact"


def test_integrity_page_links_offending_rows_to_their_timeline(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "integrity")
    violations = history.scalar(
        "SELECT sum(violation_count) FROM integrity_check_results WHERE run_id ="
        " (SELECT id FROM integrity_check_runs ORDER BY started_at DESC LIMIT 1)"
    )
    assert metrics(at)["Violations"] == str(violations)
    assert metrics(at)["Latest run"] == "failed"
    labels = [link.proto.label for link in at.get("page_link")]
    plain = history.bookings["plain"]
    customer = history.scalar(
        "SELECT c.name FROM bookings b JOIN customers c ON c.id = b.customer_id WHERE b.id = %(bk)s", bk=plain
    )
    assert labels == [f"Timeline of booking {booking_ref(plain)} ({customer})"]  # a reference and a name, no id


def test_export_page_counts_the_rows_it_offers_for_download(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "export")
    rows = history.scalar(
        on_range("SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id WHERE {in_range}"),
        b=history.business,
        f=FROM,
        t=TO,
    )
    assert metrics(at)["Bookings to export"] == str(rows)
    assert len(at.get("download_button")) == 3
    at.multiselect(key="e_statuses").set_value(["cancelled"]).run()
    cancelled = history.scalar(
        on_range("SELECT count(*) {bookings} AND b.status = 'cancelled'"), b=history.business, f=FROM, t=TO
    )
    assert metrics(at)["Bookings to export"] == str(cancelled)


# (The audit page is not empty for such a business: its creation is audited.)
@pytest.mark.parametrize("page", [None, "capacity", "cancellations", "integrity", "export"])
def test_a_business_without_bookings_gets_a_message_not_a_traceback(
    dashboard: AppTest, history: History, page: str | None
) -> None:
    dashboard.query_params["business"] = str(history.empty_business)
    at = open_page(dashboard, page)
    assert at.info or at.success, "an empty page should say why it is empty"


def test_a_date_range_with_nothing_in_it_gets_a_message(dashboard: AppTest) -> None:
    dashboard.query_params.update({"from": "2031-06-01", "to": "2031-06-07"})
    at = open_page(dashboard)
    assert any("No slots or bookings" in i.value for i in at.info)


def test_a_person_with_no_membership_is_told_so_and_sees_nothing(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOKING_DATABASE_URL", empty_database)
    at = login(AppTest.from_file(str(APP), default_timeout=60), STRANGER).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"You are signed in as {STRANGER}, but you are a member of no business: "
        "ask an admin to grant you a role (`booking users grant`)."
    ]
    assert not at.dataframe and not at.metric and [b.label for b in at.button] == ["Log out"]


def test_an_unreachable_database_is_an_error_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKING_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    at = login(AppTest.from_file(str(APP), default_timeout=60)).run()
    assert not at.exception
    assert any("cannot be reached" in e.value for e in at.error)


# ---------------------------------------------------------------- names, never ids
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def assert_tables_carry_names(at: AppTest) -> int:
    """Every cell of every table on the page (all rows, not only those in view): no UUID, bytes or bare UUID text.

    The `timeline` link column is a URL (drawn as "open timeline"); it names the booking by reference.
    """
    assert at.dataframe, "the page drew no table"
    for table in at.dataframe:
        df = table.value
        for col in df.columns:
            for v in df[col]:
                assert not isinstance(v, uuid.UUID | bytes | memoryview), f"{col}: {v!r}"
                text = json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
                if col == "timeline":
                    text = text.split("&booking=")[0].split("business=")[0]
                assert not UUID_TEXT.search(text), f"{col}: {text!r} is a bare UUID"
    return len(at.dataframe)


@pytest.mark.parametrize(("page", "tables"), [("capacity", 1), ("cancellations", 1), ("integrity", 2), ("export", 1)])
def test_every_table_names_what_it_shows_and_holds_no_id(
    dashboard: AppTest, history: History, page: str, tables: int
) -> None:
    assert assert_tables_carry_names(open_page(dashboard, page)) == tables


def test_the_audit_log_and_a_timeline_name_what_they_show(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "audit")
    assert assert_tables_carry_names(at) == 1
    rows = at.dataframe[0].value
    subjects = dict(zip(rows["entity_type"], rows["subject"], strict=False))
    name = history.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=history.business)
    assert subjects["business"] == name
    paid = history.bookings["paid"]
    at.text_input(key="a_booking").set_value(booking_ref(paid).lower()).run()
    assert assert_tables_carry_names(at) == 2
    diffs = at.dataframe[0].value
    customer = history.scalar(
        "SELECT c.name FROM bookings b JOIN customers c ON c.id = b.customer_id WHERE b.id = %(bk)s", bk=paid
    )
    created = diffs.loc[diffs["action"] == "booking.created"].set_index("field")["after"]
    assert created["customer_id"] == customer
    assert created["id"] == f"booking {booking_ref(paid)}"
    assert set(at.dataframe[1].value["booking"]) == {booking_ref(paid)}


def test_a_booking_reference_is_the_same_in_sql_and_python(history: History) -> None:
    query = sql.SQL("SELECT b.id, {ref} FROM bookings b WHERE b.business_id = %(b)s").format(ref=ref("b", "id"))
    rows = history.sql(query, b=history.business)
    assert rows and all(booking_ref(i) == ref for i, ref in rows)  # type: ignore[arg-type]
    assert len({ref for _, ref in rows}) == len(rows)  # UUIDv7 ids made in one second still differ


def test_an_unknown_or_malformed_booking_reference_is_a_warning(dashboard: AppTest) -> None:
    at = open_page(dashboard, "audit")
    at.text_input(key="a_booking").set_value("FFFF-FFFF").run()
    assert any("has no booking FFFF-FFFF" in w.value for w in at.warning)
    at.text_input(key="a_booking").set_value("not a ref").run()
    assert any("is not a booking reference" in w.value for w in at.warning)
    assert not at.exception


def test_the_audit_log_filters_by_a_customer_actors_name(dashboard: AppTest, history: History) -> None:
    at = open_page(dashboard, "audit")
    at.text_input(key="a_actor").set_value("Customer 2").run()
    rows = at.dataframe[0].value
    expected = history.scalar(
        "SELECT count(*) FROM booking_audit_log a JOIN customers c ON c.id::text = a.performed_by_id"
        " WHERE a.business_id = %(b)s AND a.performed_by = 'customer' AND c.name = 'Customer 2'",
        b=history.business,
    )
    assert len(rows) == expected and set(rows["actor"]) == {"Customer 2"}


@pytest.fixture
def errored_history(admin_url: str) -> Iterator[History]:
    """The known history with a newer run in which a check errored (e.g. the database went away)."""
    from datetime import timedelta

    import psycopg

    from tests.conftest import MONDAY
    from tests.dashboard.conftest import known_history

    with known_history(admin_url, "booking_dash_errored") as h:
        with psycopg.connect(h.url, autocommit=True) as conn:
            run = conn.execute(
                "INSERT INTO integrity_check_runs (started_at, finished_at, duration_seconds, status)"
                " VALUES (%s, %s, 1.0, 'errored') RETURNING id",
                (MONDAY + timedelta(hours=5), MONDAY + timedelta(hours=5, seconds=1)),
            ).fetchone()
            conn.execute(
                "INSERT INTO integrity_check_results (run_id, check_name, suite, description, status,"
                " violation_count, sample, error) VALUES (%s, 'payment_matches', 'bookings', 'x', 'errored', 0,"
                " '[]', 'connection lost')",
                (run[0],),  # type: ignore[index]
            )
        yield h


def test_an_errored_latest_run_is_shown_as_incomplete_with_the_last_complete_result(
    errored_history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_integrity(errored_history.url, errored_history.query_params(), monkeypatch)
    assert metrics(at)["Latest run"] == "errored"
    (warning,) = [w.value for w in at.warning]
    assert "The latest run errored (1 checks could not run)" in warning and "incomplete, not clean" in warning
    assert "found 1 violations" in warning  # the failed run before it, the last in which every check ran
    labels = [link.proto.label for link in at.get("page_link")]
    assert labels and all(label.startswith("Timeline of booking") for label in labels)


@pytest.mark.parametrize("page", ["overview", "capacity", "integrity"])
def test_every_page_of_a_frozen_business_says_so_and_the_banner_goes_with_the_unfreeze(
    dashboard: AppTest, history: History, page: str
) -> None:
    import streamlit as st

    from booking_core.bootstrap import connect
    from booking_core.domain.values import Actor

    ops = Actor.admin("ops:bob")
    with connect(history.url, migrate=False) as system:
        system.set_freeze(history.business, actor=ops, reason="seat drift on Friday's slots")
        try:
            st.cache_data.clear()
            at = open_page(dashboard, page)
            banners = [w.value for w in at.warning if "frozen" in w.value]
            assert len(banners) == 1
            (name,) = history.sql("SELECT name FROM businesses WHERE id = %(b)s", b=history.business)[0]
            assert banners[0].startswith(f"Writes to {name} are frozen since ")
            assert "by ops:bob: seat drift on Friday's slots." in banners[0] and "booking unfreeze" in banners[0]
        finally:
            system.set_freeze(history.business, actor=ops, reason="repaired", frozen=False)
    st.cache_data.clear()
    assert not [w for w in open_page(dashboard, page).warning if "frozen" in w.value]
