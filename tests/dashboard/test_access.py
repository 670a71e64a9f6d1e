"""Who sees what in the dashboard (AppTest on the known history): the login, a link to another business,
each role's pages and masks, and the record of who looked, all against SQL.

The browser test (test_login.py) logs in through a real OpenID Connect provider; here `st.user` is set
as `st.login` leaves it, and the database decides the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from booking_core import connect
from booking_core.reports.engine import as_person
from tests.conftest import MONDAY
from tests.dashboard.conftest import ADMIN, ANALYST, APP, FROM, MANAGER, OPS, TO, History, login
from tests.dashboard.test_pages import open_page
from tests.factories import Shop

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "s" * 32,
    "client_id": "booking-dashboard",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture(scope="module")
def other_business(history: History) -> Iterator[Shop]:
    """Business B: bookings and customers, and none of the known history's people is a member of it."""
    with connect(history.url) as system:
        shop = Shop.create(system, now=MONDAY, customers=3)
        for i, slot in enumerate(shop.slots(days=10)[:3]):
            shop.book(slot, party=1, customer=i)
    st.cache_data.clear()
    yield shop


def app(history: History, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("BOOKING_DATABASE_URL", history.url)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"from": FROM.isoformat(), "to": TO.isoformat(), **params})
    return at


def test_without_login_configured_the_dashboard_says_how_and_shows_nothing(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(history, monkeypatch, business=str(history.business)).run()
    assert not at.exception
    assert next(e.value for e in at.error).startswith("Login is not configured, so the dashboard shows nothing")
    assert not at.metric and not at.dataframe and not at.selectbox


def test_with_login_configured_a_visitor_gets_the_login_button_and_nothing_else(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(history, monkeypatch, business=str(history.business))
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception and not at.error
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric and not at.dataframe and not at.selectbox


def test_a_link_to_another_business_is_refused_and_shows_nothing_of_it(
    history: History, other_business: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_refused = login(app(history, monkeypatch, business=str(other_business.business_id)), MANAGER)
    at.run()
    assert not at.exception
    assert [e.value for e in open_refused.error] == [
        f"The link asks for business '{other_business.business_id}', which is not one of yours: nothing of it is "
        "shown. This page now shows Empty Cafe; choose another of your businesses in the sidebar."
    ]
    assert not at.metric and not at.dataframe
    # The business picker offers the manager's two businesses, never B.
    offered = set(at.sidebar.selectbox[0].options)
    names = {
        str(r[0])
        for r in history.sql(
            "SELECT name FROM businesses WHERE id IN (%(a)s, %(e)s)", a=history.business, e=history.empty_business
        )
    }
    assert {o.split(" (")[0] for o in offered} == names
    # The next run shows the manager's own business (the URL was rewritten to it).
    at.run()
    assert not at.error and at.metric


@pytest.mark.parametrize(
    ("person", "pages"),
    [
        (MANAGER, {"overview", "capacity", "cancellations", "waitlists", "audit", "integrity", "export"}),
        (OPS, {"overview", "capacity", "waitlists", "audit", "integrity"}),
        (ANALYST, {"overview", "capacity", "cancellations", "audit", "export"}),
        (ADMIN, {"access"}),
    ],
)
def test_each_role_is_offered_its_pages(history: History, monkeypatch: pytest.MonkeyPatch, person, pages) -> None:
    at = login(app(history, monkeypatch, business=str(history.business)), person).run()
    assert not at.exception
    offered = {p for p in ALL_PAGES if _opens(at, p)}
    assert offered == pages


ALL_PAGES = ("overview", "capacity", "cancellations", "waitlists", "audit", "integrity", "export", "access")


def _opens(at: AppTest, page: str) -> bool:
    try:
        at.switch_page(f"screens/{page}.py").run()
    except Exception:
        return False
    return not at.exception


def customers_shown(at: AppTest) -> list[object]:
    tables = [d.value for d in at.dataframe if "customer" in d.value.columns]
    assert tables, "the page drew no table naming customers"
    return list(tables[0]["customer"])


def test_customer_names_on_a_page_follow_the_readers_role(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = {}
    for person in (MANAGER, OPS, ANALYST):
        at = login(app(history, monkeypatch, business=str(history.business)), person)
        shown[person] = customers_shown(open_page(at, "capacity"))
    names = {str(r[0]) for r in history.sql("SELECT name FROM customers WHERE business_id = %(b)s", b=history.business)}
    assert shown[MANAGER] and set(shown[MANAGER]) <= names
    assert len(shown[OPS]) == len(shown[MANAGER]) and all(v is None for v in shown[OPS])
    assert len(shown[ANALYST]) == len(shown[MANAGER])
    assert all(str(v).startswith("customer-") for v in shown[ANALYST]) and not set(shown[ANALYST]) & names


def looks(history: History, person: str) -> list[tuple[object, ...]]:
    return history.sql(
        "SELECT what, filter ->> 'page', filter ->> 'business', row_count FROM access_log WHERE person = %(p)s"
        " ORDER BY id",
        p=person,
    )


def test_a_managers_look_at_customers_is_recorded_once_and_the_admin_reads_it(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = looks(history, MANAGER)
    at = login(app(history, monkeypatch, business=str(history.business)), MANAGER)
    shown = customers_shown(open_page(at, "capacity"))
    open_page(at, "capacity")  # redrawn in the same session: the same look, not recorded again
    name = history.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=history.business)
    assert looks(history, MANAGER)[len(before) :] == [("personal_data", "capacity", name, len(shown))]
    for person in (OPS, ANALYST):  # no name shown: nothing to record
        ops_before = looks(history, person)
        open_page(login(app(history, monkeypatch, business=str(history.business)), person), "capacity")
        assert looks(history, person) == ops_before
    st.cache_data.clear()
    admin = open_page(login(app(history, monkeypatch), ADMIN), "access")
    who_looked = next(d.value for d in admin.dataframe if "what" in d.value.columns)
    assert {(r.person, r.what, r.rows) for r in who_looked.itertuples()} >= {(MANAGER, "personal_data", len(shown))}
    members = next(d.value for d in admin.dataframe if "granted_by" in d.value.columns)
    assert set(members["person"]) == {str(r[0]) for r in history.sql("SELECT DISTINCT person FROM memberships")}


def test_a_non_admin_cannot_open_the_access_page(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    at = login(app(history, monkeypatch, business=str(history.business)), MANAGER).run()
    assert not _opens(at, "access")


def _nothing(value: object) -> bool:
    """No row and no figure: an empty table, zero or None everywhere."""
    import dataclasses

    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value.empty
    if isinstance(value, dict):
        return all(_nothing(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_nothing(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_nothing(getattr(value, f.name)) for f in dataclasses.fields(value))
    return value in (None, 0)


def test_the_dashboards_data_layer_reads_nothing_of_another_business(history: History, other_business: Shop) -> None:
    """Every query the pages run, for business B, as the manager of A through the data layer's own engine."""
    from datetime import UTC, date, datetime

    from dashboard.data import _engine

    from booking_core.adapters.errors import database_errors
    from booking_core.domain.errors import ActorNotAllowed
    from booking_core.reports import audit, cancellations, capacity, catalogue, deliveries, overview, waitlists
    from booking_core.reports import history as hist
    from booking_core.reports.audit import AuditFilter
    from booking_core.reports.common import Scope

    b = other_business.business_id
    scope = Scope(b, date(2029, 1, 1), date(2031, 12, 31))
    booking = history.scalar("SELECT id FROM bookings WHERE business_id = %(b)s LIMIT 1", b=b)
    where = hist.ExportFilter(business_id=b)
    reads = {
        "overview": (overview.overview_figures, scope),
        "over time": (capacity.utilization_over_time, scope),
        "heatmap": (capacity.utilization_heatmap, scope),
        "by service": (capacity.utilization_by, scope, "service"),
        "to contact": (capacity.slots_to_contact, scope),
        "cancellation rates": (cancellations.cancellation_rates_over_time, scope),
        "cancellation breakdowns": (cancellations.cancellation_breakdowns, scope),
        "lead times": (cancellations.cancellation_lead_times, scope),
        "causes": (cancellations.cancellation_causes, scope),
        "waitlist": (waitlists.waitlist_figures, scope),
        "queues": (waitlists.longest_queues, scope),
        "deliveries": (deliveries.delivery_figures, scope),
        "failed deliveries": (deliveries.failed_attempts, scope),
        "audit log": (audit.audit_log, scope, AuditFilter()),
        "timeline": (audit.booking_timeline, b, booking),
        "find": (audit.find_bookings, b, str(booking)[-8:]),
        "names": (audit.timeline_names, b, booking),
        "services": (catalogue.services, b),
        "dates": (catalogue.slot_date_range, b),
        "export count": (hist.export_count, where),
        "export": (hist.export_frame, where),
    }
    assert history.scalar("SELECT count(*) FROM bookings WHERE business_id = %(b)s", b=b) == 3
    engine = _engine(history.url)
    seen = {}
    for name, (fn, *args) in reads.items():
        with engine.connect() as conn:
            as_person(conn, MANAGER)
            kwargs = {"now": datetime(2029, 1, 1, tzinfo=UTC)} if fn is capacity.slots_to_contact else {}
            kwargs |= {"limit": 10} if fn is hist.export_frame else {}
            seen[name] = fn(conn, *args, **kwargs)
    assert {name: value for name, value in seen.items() if not _nothing(value)} == {}
    assert {b} & {uuid for uuid in data_ids(engine)} == set()
    with engine.connect() as conn, pytest.raises(ActorNotAllowed, match="not a member"), database_errors():
        as_person(conn, MANAGER)
        audit.audit_chain_state(conn, b)


def data_ids(engine: object) -> list[object]:
    from booking_core.reports import catalogue

    with engine.connect() as conn:  # type: ignore[attr-defined]
        as_person(conn, MANAGER)
        return list(catalogue.businesses(conn)["id"])
