"""The Personal data page (admins): retention policies and runs, the erasure log and subject access requests of
every business, drawn as the library wrote them (AppTest against SQL), with no customer's name or contact.

The data is made by the library (erasure, subject access, retention policy and runs) in a database of its own:
the known history's shop, and a second business none of the known people is a member of.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from booking_core import Actor, BookingSystem, Money, connect
from booking_core.reports.engine import as_person
from booking_core.reports.personal import CAUSES, CLEARED, KEPT, NOTHING
from tests.conftest import MONDAY, scratch_database
from tests.dashboard.conftest import ADMIN, ANALYST, APP, MANAGER, OPS, STRANGER, History, grant, known_history, login
from tests.factories import Shop

PAGE = "screens/personal_data.py"
STAFF = Actor.admin("dpo-1")
LATER = datetime(2032, 3, 1, 9, 0, tzinfo=MONDAY.tzinfo)  # every customer inactive for over a year


@dataclass
class Lifecycle:
    h: History
    other: Shop
    personal: set[str]  # every customer's name, e-mail address and phone number, as held before any erasure


def _paid_booking_ahead(system: BookingSystem, shop: Shop, customer: int) -> None:
    slot = shop.slots(days=21)[-1]
    booking = shop.book(slot, party=1, customer=customer)
    pay = system.record_payment(
        shop.business_id, booking.id, amount=Money("25.00", "EUR"), actor=shop.admin, now=MONDAY
    )
    system.confirm_payment(shop.business_id, pay.id, actor=shop.admin, now=MONDAY)


@pytest.fixture(scope="module")
def lifecycle(admin_url: str) -> Iterator[Lifecycle]:
    with known_history(admin_url, "booking_dash_personal") as h, connect(h.url) as system:
        a = replace(h.shop, system=system, customers=list(h.shop.customers))  # the history's system is closed
        ada = system.add_customer(
            a.business_id,
            name="Ada Lovelace",
            email="ada@example.org",
            phone="+49 30 1234567",
            actor=a.admin,
            now=MONDAY,
        )
        a.customers.append(ada)
        _paid_booking_ahead(system, a, len(a.customers) - 1)
        other = Shop.create(system, now=MONDAY, customers=2)
        grace = system.add_customer(
            other.business_id, name="Grace Hopper", email="grace@example.net", actor=other.admin, now=MONDAY
        )
        personal = {str(v) for row in h.sql("SELECT name, email, phone FROM customers") for v in row if v is not None}
        day = timedelta(days=1)
        system.customer_data(a.business_id, email="ada@example.org", actor=STAFF, now=MONDAY + day)
        system.customer_data(other.business_id, customer_id=grace, actor=STAFF, now=MONDAY + day)
        system.erase_customer(a.business_id, email="ada@example.org", force=True, actor=STAFF, now=MONDAY + 2 * day)
        system.erase_customer(a.business_id, customer_id=a.customers[4], actor=STAFF, now=MONDAY + 3 * day)
        system.erase_customer(other.business_id, customer_id=grace, actor=STAFF, now=MONDAY + 2 * day)
        system.set_retention_policy(
            a.business_id, erase_inactive_after_months=12, purge_payloads_after_days=30, actor=STAFF, now=MONDAY
        )
        system.set_retention_policy(
            other.business_id, erase_inactive_after_months=6, drop_client_after_days=90, actor=STAFF, now=MONDAY
        )
        robot = Actor.system("retention")
        system.run_retention(a.business_id, dry_run=True, actor=robot, now=LATER)
        system.run_retention(other.business_id, actor=robot, now=LATER)
        st.cache_data.clear()
        yield Lifecycle(h, other, personal)


def app(url: str, monkeypatch: pytest.MonkeyPatch, person: str) -> AppTest:
    monkeypatch.setenv("BOOKING_DATABASE_URL", url)
    return login(AppTest.from_file(str(APP), default_timeout=60), person)


def opens(at: AppTest) -> bool:
    try:
        at.run()
        at.switch_page(PAGE).run()
    except Exception:
        return False
    return not at.exception


@pytest.fixture(scope="module")
def drawn(lifecycle: Lifecycle) -> dict[str, pd.DataFrame]:
    """The page as the admin sees it: each table by the column only it has."""
    with pytest.MonkeyPatch.context() as mp:
        at = app(lifecycle.h.url, mp, ADMIN)
        assert opens(at), [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == ["Personal data"]
    marks = {
        "policies": "Erase inactive customers after (months)",
        "runs": "Dry run",
        "erasures": "Cause",
        "requests": "Answered by",
    }
    tables = [d.value for d in at.dataframe]
    assert len(tables) == len(marks)
    return {name: next(t for t in tables if mark in t.columns) for name, mark in marks.items()}


def cleared(counts: dict[str, int]) -> dict[str, int]:
    """What the page should say was cleared: the non-zero counts, by their label."""
    return {CLEARED.get(k, k.replace("_", " ")): int(n) for k, n in counts.items() if n}


def parse_cleared(cell: str) -> dict[str, int]:
    if cell == NOTHING:
        return {}
    pairs = [part.rsplit(": ", 1) for part in cell.split(", ")]
    return {label: int(n) for label, n in pairs}


def items(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items()))


def yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def when(value: object) -> datetime:
    return pd.Timestamp(value).to_pydatetime()  # type: ignore[no-any-return]


def business_names(lifecycle: Lifecycle) -> set[str]:
    ids = (lifecycle.h.business, lifecycle.other.business_id)
    return {str(r[0]) for r in lifecycle.h.sql("SELECT name FROM businesses WHERE id = ANY(%(ids)s)", ids=list(ids))}


def test_the_admin_sees_every_businesss_erasures_as_logged(
    lifecycle: Lifecycle, drawn: dict[str, pd.DataFrame]
) -> None:
    expected = {
        (str(r[0]), str(r[1]), when(r[2]), str(r[3]), str(r[4]), CAUSES[str(r[5])], yes_no(r[6]), items(cleared(r[7])))
        for r in lifecycle.h.sql(
            "SELECT b.name, e.customer_id::text, e.erased_at, e.erased_by, e.channel::text, e.cause, e.forced,"
            " e.cleared FROM customer_erasures e JOIN businesses b ON b.id = e.business_id"
        )
    }
    shown = {
        (r[0], r[1], when(r[2]), r[3], r[4], r[5], r[6], items(parse_cleared(r[7])))
        for r in drawn["erasures"].itertuples(index=False)
    }
    assert list(drawn["erasures"].columns) == [
        "Business", "Customer id", "When", "By", "Channel", "Cause", "Forced", "Rows cleared"
    ]  # fmt: skip
    assert len(drawn["erasures"]) == len(expected) == 5  # two requests in A, one in B, B's two inactive customers
    assert shown == expected
    assert set(drawn["erasures"]["Business"]) == business_names(lifecycle)
    assert {"customer's request", "retention policy"} == set(drawn["erasures"]["Cause"])
    assert set(drawn["erasures"]["Forced"]) == {"yes", "no"}
    times = list(drawn["erasures"]["When"])
    assert times == sorted(times, reverse=True)


def test_the_admin_sees_every_businesss_retention_runs_as_logged(
    lifecycle: Lifecycle, drawn: dict[str, pd.DataFrame]
) -> None:
    rows = lifecycle.h.sql(
        "SELECT b.name, r.started_at, r.dry_run, r.run_by, r.cleared FROM retention_runs r"
        " JOIN businesses b ON b.id = r.business_id"
    )
    expected = {(str(r[0]), when(r[1]), yes_no(r[2]), str(r[3]), items(cleared(r[4]))) for r in rows}
    runs = drawn["runs"]
    assert list(runs.columns) == ["Business", "When", "Dry run", "Run by", "Rows cleared"]
    shown = {(r[0], when(r[1]), r[2], r[3], items(parse_cleared(r[4]))) for r in runs.itertuples(index=False)}
    assert shown == expected and len(runs) == len(rows) == 2
    assert set(runs["Dry run"]) == {"yes", "no"}
    b_run = runs[runs["Dry run"] == "no"].iloc[0]
    assert parse_cleared(b_run["Rows cleared"])["customers erased"] == 2  # B's two inactive customers


def test_the_admin_sees_every_businesss_retention_policy_with_kept_windows(
    lifecycle: Lifecycle, drawn: dict[str, pd.DataFrame]
) -> None:
    rows = lifecycle.h.sql(
        "SELECT b.name, p.erase_inactive_after_months, p.purge_payloads_after_days, p.drop_client_after_days,"
        " p.updated_at, p.updated_by FROM retention_policies p JOIN businesses b ON b.id = p.business_id"
    )

    def window(v: object) -> str:
        return KEPT if v is None else str(v)

    expected = {(str(r[0]), window(r[1]), window(r[2]), window(r[3]), when(r[4]), str(r[5])) for r in rows}
    policies = drawn["policies"]
    assert list(policies.columns) == [
        "Business",
        "Erase inactive customers after (months)",
        "Purge delivered notifications' personal parts after (days)",
        "Drop audit rows' ip addresses and user agents after (days)",
        "Updated at",
        "Updated by",
    ]
    shown = {(r[0], r[1], r[2], r[3], when(r[4]), r[5]) for r in policies.itertuples(index=False)}
    assert shown == expected and len(policies) == 2
    assert set(policies["Business"]) == business_names(lifecycle)
    assert KEPT in set(policies.iloc[:, 3]) and KEPT in set(policies.iloc[:, 2])


def test_the_admin_sees_every_businesss_subject_access_requests(
    lifecycle: Lifecycle, drawn: dict[str, pd.DataFrame]
) -> None:
    rows = lifecycle.h.sql(
        "SELECT b.name, r.customer_id::text, r.requested_at, r.answered_by, r.channel::text"
        " FROM subject_access_requests r JOIN businesses b ON b.id = r.business_id"
    )
    requests = drawn["requests"]
    assert list(requests.columns) == ["Business", "Customer id", "When", "Answered by", "Channel"]
    shown = {(r[0], r[1], when(r[2]), r[3], r[4]) for r in requests.itertuples(index=False)}
    assert shown == {(str(r[0]), str(r[1]), when(r[2]), str(r[3]), str(r[4])) for r in rows}
    assert len(requests) == len(rows) == 2
    assert set(requests["Business"]) == business_names(lifecycle)


def test_no_cell_holds_a_customers_name_or_contact_details(
    lifecycle: Lifecycle, drawn: dict[str, pd.DataFrame]
) -> None:
    assert {"Ada Lovelace", "ada@example.org", "+49 30 1234567", "Grace Hopper", "grace@example.net"} <= (
        lifecycle.personal
    )
    cells = [str(v).lower() for df in drawn.values() for v in df.to_numpy().ravel()]
    leaked = {p for p in lifecycle.personal for c in cells if p.lower() in c}
    assert leaked == set()


def test_labels_and_cells_are_for_people(drawn: dict[str, pd.DataFrame]) -> None:
    for df in drawn.values():
        for label in df.columns:
            assert "_" not in label and label[0].isupper(), label
        for value in df.to_numpy().ravel():
            assert not isinstance(value, dict | list | uuid.UUID), value
            assert not (isinstance(value, str) and value.lstrip().startswith(("{", "["))), value
    counts = re.compile(r"^(nothing|[a-z' ]+: \d+(, [a-z' ]+: \d+)*)$")
    for cell in [*drawn["erasures"]["Rows cleared"], *drawn["runs"]["Rows cleared"]]:
        assert counts.match(cell), cell
    for customer in drawn["erasures"]["Customer id"]:
        uuid.UUID(customer)  # the id the CLI takes (`booking customers ... --id`)


def nothing_of_the_page(at: AppTest) -> bool:
    tables = [d for d in at.dataframe if {"Cause", "Dry run", "Answered by"} & set(d.value.columns)]
    return not tables and not any(t.value == "Personal data" for t in at.title)


@pytest.mark.parametrize("person", [MANAGER, OPS, ANALYST])
def test_a_member_is_not_offered_the_page_and_a_direct_visit_is_refused(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch, person: str
) -> None:
    at = app(lifecycle.h.url, monkeypatch, person)
    assert not opens(at)  # not among the person's pages: switching to it fails
    assert nothing_of_the_page(at)


def test_someone_with_no_membership_is_refused_before_any_page(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(lifecycle.h.url, monkeypatch, STRANGER)
    opens(at)
    assert [e.value for e in at.error] == [
        f"You are signed in as {STRANGER}, but you are a member of no business: "
        "ask an admin to grant you a role (`booking users grant`)."
    ]
    assert nothing_of_the_page(at)


def test_the_page_is_an_admins(lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(lifecycle.h.url, monkeypatch, ADMIN)
    assert opens(at)


def test_through_the_views_a_member_reads_their_businesses_and_an_admin_all(lifecycle: Lifecycle) -> None:
    from dashboard.data import _engine
    from sqlalchemy import text

    from booking_core.reports.common import frame

    a = str(lifecycle.h.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=lifecycle.h.business))
    every = business_names(lifecycle)
    engine = _engine(lifecycle.h.url)
    for person, expected in ((ADMIN, every), (MANAGER, {a}), (OPS, {a}), (STRANGER, set())):
        for view in ("customer_erasures", "subject_access_requests", "retention_policies", "retention_runs"):
            with engine.connect() as conn:
                as_person(conn, person)
                seen = set(frame(conn, text(f"SELECT DISTINCT business FROM {view}"))["business"])  # noqa: S608
            assert seen == expected, (person, view)


def test_with_nothing_yet_each_section_says_what_to_run(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with scratch_database(admin_url, "booking_dash_personal_empty") as url:
        with connect(url) as system:
            grant(system, ADMIN, "admin", None)
        st.cache_data.clear()
        at = app(url, monkeypatch, ADMIN)
        assert opens(at), [e.value for e in at.exception]
        assert not at.error and not at.dataframe
        said = [i.value for i in at.info]
        assert len(said) == 4
        assert [s.split(":")[0] for s in said] == [
            "No business has a retention policy yet, so all personal data is kept",
            "No retention run yet",
            "No erasures yet",
            "No subject access request answered yet",
        ]
        assert all("`booking " in s for s in said)
