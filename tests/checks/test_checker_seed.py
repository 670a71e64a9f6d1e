"""The checker on the demo's bulk seed: clean data leaves nothing open, after the sweep, the walk and a round."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from checks.chain import chain_pass
from checks.checker import full_pass, incremental_pass, plain_url

from booking_core import connect
from booking_demo.seed import bulk_seed
from tests.conftest import create_database, drop_database


@pytest.fixture(scope="module")
def seeded(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url, prefix="checker_seed")
    try:
        with connect(url) as system:
            bulk_seed(system, bookings=3_000, seed=5, anchor=datetime.now(UTC))
        yield url
    finally:
        drop_database(admin_url, url)


def test_a_clean_seeded_database_has_no_open_violation(seeded: str) -> None:
    assert full_pass(seeded).found == 0
    walk = chain_pass(seeded, full=True)
    assert walk.found == 0 and walk.audit_rows > 0  # links walked
    with psycopg.connect(plain_url(seeded), autocommit=True) as conn:
        # Touch every booking's audit trail the way a day of changes would: the pass re-checks them all.
        conn.execute("UPDATE checker_state SET audit_watermark = 0 WHERE mode = 'incremental'")
    rules = incremental_pass(seeded)
    assert rules.audit_rows > 0 and rules.found == 0
    with psycopg.connect(plain_url(seeded)) as conn:
        row = conn.execute("SELECT count(*) FROM integrity_violations").fetchone()
    assert row is not None and row[0] == 0
