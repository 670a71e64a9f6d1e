"""Migrations keep a populated database working: upgraded in place, it has the schema a fresh one has."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from booking_core import Actor, Booking, Money, PaymentMethod
from booking_core.adapters.db import BASELINE, MIGRATIONS, SQUASHED, SQUASHED_HEAD, Database
from booking_core.bootstrap import BookingSystem
from booking_core.domain.errors import DatabaseUnavailable
from tests.conftest import IN_CI, MONDAY, create_database, drop_database
from tests.factories import Shop
from tests.schema.dump import NoPgDump, fresh_schema, schema_of

TRIGGER_RENAMES = MIGRATIONS / "versions" / "0002_definitions_by_area.sql"


def _raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _dumped(dump: Callable[[], str]) -> str:
    try:
        return dump()
    except NoPgDump as exc:
        if IN_CI:
            pytest.fail(f"{exc}: the schemas cannot be compared")
        pytest.skip(str(exc))


@pytest.fixture
def make_database(admin_url: str) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        made.append(create_database(admin_url, prefix="migration_test"))
        return made[-1]

    yield make
    for url in made:
        drop_database(admin_url, url)


@pytest.fixture
def fresh(admin_url: str) -> str:
    """The schema of a freshly migrated database."""
    return _dumped(lambda: fresh_schema(admin_url))


@pytest.fixture
def populated(make_database) -> Iterator[tuple[str, Database, BookingSystem, Shop, Booking]]:
    """A database at the baseline, populated through the library."""
    url = make_database()
    db = Database(url)
    try:
        db.upgrade(BASELINE)
        system = BookingSystem(db)
        yield (url, db, system, *_populate(system))
    finally:
        db.dispose()


def _populate(system: BookingSystem) -> tuple[Shop, Booking]:
    """A business with the rows a release writes: a paid booking filling its slot, a waitlist entry, a cancellation."""
    shop = Shop.create(system, now=MONDAY, capacity=3, customers=3, payment_method=PaymentMethod.PAY_NOW, price="10")
    full, other = shop.slots()[:2]
    psp = Actor.system("psp")
    held = shop.book(full, party=3, customer=0)
    payment = system.record_payment(shop.business_id, held.id, amount=Money("30", "EUR"), actor=psp, now=MONDAY)
    system.confirm_payment(shop.business_id, payment.id, actor=psp, now=MONDAY)
    shop.join_waitlist(full, party=2, customer=1)
    system.cancel(shop.business_id, shop.book(other, party=1, customer=2).id, actor=shop.admin, now=MONDAY)
    return shop, held


def _still_works(system: BookingSystem, shop: Shop, held: Booking) -> None:
    """The upgraded triggers take the rows as they were: cancelling the paid booking offers its seats on."""
    full = system.get_slot(shop.business_id, held.slot_id)
    assert full.booked_seats == 3
    system.cancel(shop.business_id, held.id, actor=shop.admin, now=MONDAY)
    # The waiting party of 2 now holds an offer on the freed seats.
    assert system.get_slot(shop.business_id, full.id).booked_seats == 2


def _as_built_before_the_baseline(url: str) -> None:
    """Turn a baseline database into what the squashed revisions built: unnumbered trigger names, no ledger."""
    renames = re.findall(r"\('(\w+)', '(\w+)', '(\w+)'\)", TRIGGER_RENAMES.read_text(encoding="utf-8"))
    assert renames, f"no (table, old name, new name) rows in {TRIGGER_RENAMES.name}"
    with _raw(url) as raw:
        for table, old, new in renames:
            raw.execute(
                sql.SQL("ALTER TRIGGER {} ON {} RENAME TO {}").format(
                    sql.Identifier(new), sql.Identifier(table), sql.Identifier(old)
                )
            )
        raw.execute("DROP TABLE schema_definitions")
        raw.execute("UPDATE alembic_version SET version_num = %s", (SQUASHED_HEAD,))


def test_a_database_populated_at_the_baseline_upgrades_to_the_schema_of_a_fresh_one(populated, fresh):
    url, db, system, shop, held = populated
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    assert _dumped(lambda: schema_of(url)) == fresh
    _still_works(system, shop, held)


def test_a_database_built_before_the_baseline_upgrades_to_the_schema_of_a_fresh_one(populated, fresh):
    url, db, system, shop, held = populated
    _as_built_before_the_baseline(url)
    assert db.current_revision() == SQUASHED_HEAD
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    assert _dumped(lambda: schema_of(url)) == fresh
    _still_works(system, shop, held)


def test_a_database_older_than_the_last_squashed_revision_is_refused_with_what_to_do(make_database):
    url = make_database()
    db = Database(url)
    try:
        db.upgrade(BASELINE)
        with _raw(url) as raw:
            raw.execute("UPDATE alembic_version SET version_num = %s", (SQUASHED[4],))
        with pytest.raises(DatabaseUnavailable, match=f"upgrade it to {SQUASHED_HEAD} with an earlier release first"):
            db.upgrade()
        assert db.current_revision() == SQUASHED[4]
    finally:
        db.dispose()


def test_an_area_file_changed_since_it_was_applied_is_applied_again_and_only_it(make_database):
    url = make_database()
    db = Database(url)
    try:
        db.upgrade()
        with _raw(url) as raw:
            # As if pricing.sql had changed since it was applied: its checksum differs, its function is gone.
            raw.execute("UPDATE schema_definitions SET sha256 = 'stale' WHERE area = 'pricing'")
            raw.execute("DROP FUNCTION booking_quote(uuid, uuid, integer, text, timestamptz)")
            before = dict(raw.execute("SELECT area, applied_at FROM schema_definitions").fetchall())
        with pytest.raises(DatabaseUnavailable, match="run `booking db upgrade`"):
            db.require_migrated()

        db.upgrade()
        db.require_migrated()
        with _raw(url) as raw:
            after = dict(raw.execute("SELECT area, applied_at FROM schema_definitions").fetchall())
            quote = raw.execute("SELECT count(*) FROM pg_proc WHERE proname = 'booking_quote'").fetchone()
        assert {area for area in after if after[area] != before[area]} == {"pricing"}
        assert quote == (1,)
    finally:
        db.dispose()
