"""The Integrity page opened from an alert's link (`/integrity?check=...&business=<name>`) lists the open ids."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import streamlit as st

from booking_core.reports.common import booking_ref
from tests.dashboard.conftest import History, open_integrity


@pytest.fixture
def open_ids(history: History) -> Iterator[list[str]]:
    """Two open violations of the history's business as `booking checker` stores them, one of another check."""
    ids = [str(history.bookings["plain"]), str(history.bookings["paid"])]
    with psycopg.connect(history.url, autocommit=True) as conn:
        for check, subject in (
            ("payment_status_mismatch", ids[0]),
            ("payment_status_mismatch", ids[1]),
            ("price_lock_broken", ids[0]),
        ):
            conn.execute(
                "INSERT INTO integrity_violations (check_name, suite, business_id, subject_kind, subject_id,"
                " first_seen, last_seen) VALUES (%s, 'payment_mismatch', %s, 'booking', %s, now(), now())",
                (check, history.business, subject),
            )
        st.cache_data.clear()  # the pages' cached reads must see these rows, and other tests not
        yield ids
        conn.execute("DELETE FROM integrity_violations WHERE business_id = %s", (history.business,))
        st.cache_data.clear()


def test_an_alerts_link_opens_the_business_by_name_and_lists_the_checks_open_ids(
    history: History, open_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(history.url) as conn:
        row = conn.execute("SELECT name FROM businesses WHERE id = %s", (history.business,)).fetchone()
    assert row is not None
    at = open_integrity(history.url, {"check": "payment_status_mismatch", "business": str(row[0])}, monkeypatch)
    table = at.dataframe[0].value
    assert sorted(table["subject"]) == sorted(f"booking {booking_ref(i)}" for i in open_ids)
    assert set(table["check"]) == {"payment_status_mismatch"}


def test_without_a_check_every_open_violation_of_the_business_is_listed(
    history: History, open_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_integrity(history.url, history.query_params(), monkeypatch)
    assert len(at.dataframe[0].value) == len(open_ids) + 1
