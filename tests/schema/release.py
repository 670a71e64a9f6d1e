"""A database as an earlier release left it: built and used by that release's code, kept as a dump.

A migration test must start from what a release really built, not from today's definitions
applied to yesterday's tables (the area files are the head's definitions and may read any
table a later migration adds). `populated_at_baseline.sql.gz` is such a database: migrated to
0001_baseline with the definitions of that release, then used through its library (a paid
booking filling its slot, a waitlist entry, a cancellation: `populate` below). Regenerate it
only from a checkout of that release (git worktree add /tmp/rel 7297cc3):

    cd /tmp/rel && .venv/bin/python -m tests.schema.release OUT.sql.gz

`restore(url)` loads it into an empty database; `Populated` names its rows.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from booking_core import Actor, Money, PaymentMethod
from booking_core.bootstrap import BookingSystem
from tests.conftest import MONDAY
from tests.factories import Shop

DUMP = Path(__file__).with_name("populated_at_baseline.sql.gz")
_ROLES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_app') THEN CREATE ROLE booking_app NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_readonly') THEN
    CREATE ROLE booking_readonly NOLOGIN;
  END IF;
END $$"""


@dataclass(frozen=True, slots=True)
class Populated:
    """The rows of the release database a test acts on."""

    business_id: uuid.UUID
    held_id: uuid.UUID  # the paid booking that fills its slot (party of 3)
    admin: Actor


def populate(system: BookingSystem) -> tuple[Shop, uuid.UUID]:
    """A business with the rows a release writes: a paid booking filling its slot, a waitlist entry, a cancellation."""
    shop = Shop.create(system, now=MONDAY, capacity=3, customers=3, payment_method=PaymentMethod.PAY_NOW, price="10")
    full, other = shop.slots()[:2]
    psp = Actor.system("psp")
    held = shop.book(full, party=3, customer=0)
    payment = system.record_payment(shop.business_id, held.id, amount=Money("30", "EUR"), actor=psp, now=MONDAY)
    system.confirm_payment(shop.business_id, payment.id, actor=psp, now=MONDAY)
    system.join_waitlist(
        shop.business_id, slot_id=full.id, customer_id=shop.customers[1], party_size=2, actor=shop.admin, now=MONDAY
    )
    system.cancel(shop.business_id, shop.book(other, party=1, customer=2).id, actor=shop.admin, now=MONDAY)
    return shop, held.id


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def restore(url: str) -> Populated:
    """Load the release database into the empty database at `url` (the roles it grants to are made first)."""
    script = gzip.decompress(DUMP.read_bytes()).decode("utf-8")
    # psql's meta-commands (\restrict, \unrestrict) are for psql; the rest is plain SQL.
    statements = "\n".join(line for line in script.splitlines() if not line.startswith("\\"))
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(_ROLES)
        conn.execute(statements)  # type: ignore[call-overload]
        conn.execute("SELECT pg_catalog.set_config('search_path', 'public', false)")
        business, held = conn.execute(
            "SELECT business_id, id FROM bookings WHERE party_size = 3 AND payment_status = 'paid'"
        ).fetchone() or (None, None)
    assert business is not None and held is not None, f"{DUMP.name} holds no paid party of 3"
    return Populated(business, held, Actor.admin("admin-1"))


def main(out: str) -> None:  # pragma: no cover - run by hand on a release checkout
    from booking_core.adapters.db import BASELINE, Database
    from tests.conftest import create_database, drop_database
    from tests.schema.dump import find_pg_dump, server_major

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    url = create_database(admin, prefix="release_fixture")
    try:
        db = Database(url)
        db.upgrade(BASELINE)
        populate(BookingSystem(db))
        db.dispose()
        pg_dump = find_pg_dump(server_major(url))
        dumped = subprocess.run(
            [str(pg_dump), "--no-owner", "--inserts", "--dbname", _libpq(url)], capture_output=True, check=True
        ).stdout
        Path(out).write_bytes(gzip.compress(dumped, mtime=0))
    finally:
        drop_database(admin, url)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1])
