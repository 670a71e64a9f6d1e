"""`booking seed`: N bookings with the demo's distributions, loaded in bulk in one transaction.

The catalogue (businesses, services, resources, schedule) is inserted with the triggers
on, so their audit rows are the triggers' own. Then, inside the same transaction and as
the table owner, `session_replication_role = replica` switches the row triggers off and
this module writes what they would have written: slots, bookings in their final state,
one transition per status step, payments and refunds, one audit row per change
(booking.created with the row as created; status, payment and refund steps with their
before/after), and booked_seats as the sum of the seat-holding parties. The audit chain
is then sealed with the database's audit_row_hash(), the one definition of the chain's hash.
Anything failing before the seal rolls it all back.

Differences from the per-booking API path, by design: no reschedules, no mid-year
schedule change or capacity reduction (the demo has those), and no
booking.payment_status_changed audit rows (the payment rows carry the same facts).
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from booking_core.bootstrap import BookingSystem
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.schedule import WeeklyRule, schedule_slots
from booking_core.domain.values import new_id, zone
from booking_demo import profiles as pf
from booking_demo.seed_rows import Draw, Rows, ServiceInfo, SlotRow

# Share of the N bookings per business, and bookings per slot the replicas are sized for.
SHARES = {"restaurant": 0.3, "fitness": 0.6, "clinic": 0.1}
PER_SLOT = {"restaurant": 1.0, "fitness": 5.0, "clinic": 0.7}


@dataclass
class SeedReport:
    bookings: int = 0
    slots: int = 0
    audit_rows: int = 0
    sealed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (
            f"seeded {self.bookings:,} bookings on {self.slots:,} slots, {self.audit_rows:,} audit rows"
            f" ({self.sealed:,} sealed); {phases}"
        )


class Phases:
    """Wall time per phase, for the report and the benchmark."""

    def __init__(self, report: SeedReport, say: Callable[[str], None] | None) -> None:
        self.report, self.say = report, say
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.report.seconds[name] = now - self._t
        self._t = now
        if self.say:
            self.say(f"{name}: {self.report.seconds[name]:.1f}s")


def bulk_seed(
    system: BookingSystem,
    *,
    bookings: int,
    seed: int,
    anchor: datetime,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> SeedReport:
    """Add `bookings` bookings over three new businesses; every invariant of the core holds after."""
    report = SeedReport()
    phases = Phases(report, say if say else (print if progress else None))
    url = system.db.url.replace("postgresql+psycopg://", "postgresql://")
    start = anchor - timedelta(days=365)
    horizon = anchor + timedelta(days=91)
    business_ids: list[uuid.UUID] = []
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():
            conn.execute(_CONTEXT, {"at": (start - timedelta(days=2)).isoformat()})
            draws = [
                _catalogue(conn, p, round(bookings * SHARES[p.key]), seed, anchor, start, horizon) for p in pf.PROFILES
            ]
            draws[-1][2] += bookings - sum(d[2] for d in draws)  # rounding goes to the last one
            phases.done("catalogue")
            conn.execute("SET LOCAL session_replication_role = replica")
            # The derive step sorts every audit row it writes: give the sort memory, not disk.
            conn.execute("SET LOCAL work_mem = '256MB'")
            for draw, slot_rows, quota in draws:
                business_ids.append(draw.business_id)
                report.slots += len(slot_rows)

                def flush(rows: Rows) -> None:
                    report.bookings += _copy_rows(conn, rows)

                draw.fill(slot_rows, quota, flush)
            phases.done("draw and copy rows")
            report.audit_rows = _derive(conn, business_ids, start - timedelta(days=2))
            phases.done("derive audit rows and seats")
    report.sealed = _seal_all(url, business_ids)
    phases.done("seal audit chain")
    return report


def _seal_all(url: str, business_ids: list[uuid.UUID]) -> int:
    """Seal each business's chain on a connection of its own: the chains are independent, so they
    are hashed side by side (each one is sequential)."""
    with ThreadPoolExecutor(max_workers=len(business_ids), thread_name_prefix="seal") as pool:
        return sum(pool.map(lambda b: _seal(url, b), business_ids))


def _seal(url: str, business_id: uuid.UUID) -> int:
    """Seal the business's unsealed audit rows with the database's own audit_row_hash().

    audit_seal() does the same one row at a time; here one statement chains the hashes: a
    running aggregate over the rows in id order whose step is audit_row_hash(prev, row) itself,
    so the hash has one definition. The chain starts empty: the business was created by this seed.
    """
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")  # the rows are sorted by id: in memory, not on disk
        conn.execute(_CHAIN_AGGREGATE)
        with conn.transaction():
            conn.execute(_SEAL_LOCK, (business_id,))
            return conn.execute(_SEAL_ALL, {"b": business_id}).rowcount


_SEAL_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('audit_seal:' || %s::text, 0))"
_CHAIN_AGGREGATE = """
CREATE AGGREGATE pg_temp.audit_chain_hashes(booking_audit_log) (
  SFUNC = audit_row_hash, STYPE = bytea, INITCOND = ''
)
"""
_SEAL_ALL = """
INSERT INTO audit_chain (business_id, seq, audit_id, prev_hash, hash)
SELECT business_id, row_number() OVER w, id, coalesce(lag(hash) OVER w, ''::bytea), hash
  FROM (
    SELECT a.business_id, a.id, pg_temp.audit_chain_hashes(a) OVER (ORDER BY a.id ROWS UNBOUNDED PRECEDING) AS hash
      FROM booking_audit_log a
     WHERE a.business_id = %(b)s
       AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.business_id = a.business_id AND c.audit_id = a.id)
  ) chained
WINDOW w AS (ORDER BY id)
"""


_CONTEXT = (
    "SELECT set_config('booking.actor_type', 'admin', true), set_config('booking.actor_id', 'seed', true),"
    " set_config('booking.channel', 'batch', true), set_config('booking.occurred_at', %(at)s, true),"
    " set_config('booking.reason', 'bulk seed', true)"
)


Services = dict[uuid.UUID, tuple[str, Decimal, PaymentMethod, int]]  # id -> (name, price, method, max party)
Resources = list[tuple[uuid.UUID, str, str, int]]  # (id, name, kind, seats)


def _catalogue(
    conn: psycopg.Connection[Any],
    p: pf.Profile,
    quota: int,
    seed: int,
    anchor: datetime,
    start: datetime,
    horizon: datetime,
) -> list[Any]:
    """One business with enough replicas of its resources for its quota; its slots, by the core's time rule."""
    rng = random.Random(f"{seed}:{p.key}:seed")
    setup = start - timedelta(days=2)
    bid, services = _business(conn, p, setup)
    weekly = sum(len(o.weekdays) for o in p.openings) * len(p.resources) * len(services)
    replicas = max(1, math.ceil(quota / (weekly * 65 * PER_SLOT[p.key])))
    resources = _resources(conn, bid, p, replicas, setup)
    version, rules = _schedule(conn, bid, p, services, resources, (start, horizon, setup))
    customers = [new_id() for _ in range(max(50, quota // 12))]
    names = (pf.customer_name(rng, n) for n in range(len(customers)))
    _copy(
        conn,
        "COPY customers (business_id, id, name, email, created_at) FROM STDIN",
        ((bid, cid, name, email, setup) for cid, (name, email) in zip(customers, names, strict=True)),
    )
    labels = {sid: name for sid, (name, *_rest) in services.items()} | {rid: name for rid, name, *_ in resources}
    slots = _slots(conn, bid, version, rules, labels, p.timezone, (start, horizon, setup))
    infos = {
        sid: ServiceInfo(price, method is PaymentMethod.PAY_NOW, party)
        for sid, (_n, price, method, party) in services.items()
    }
    return [Draw(p, bid, p.currency, infos, customers, anchor, setup, rng), slots, quota]


def _business(conn: psycopg.Connection[Any], p: pf.Profile, setup: datetime) -> tuple[uuid.UUID, Services]:
    """The business row and its services (the members' service too, where the profile has one)."""
    bid = new_id()
    conn.execute(
        "INSERT INTO businesses (id, name, timezone, currency, created_at) VALUES (%s, %s, %s, %s, %s)",
        (bid, p.name, p.timezone, p.currency, setup),
    )
    services: Services = {new_id(): (p.service, Decimal(p.price), p.payment_method, p.max_party)}
    if p.members is not None:
        services[new_id()] = (p.members[0], Decimal(0), PaymentMethod.PAY_ON_ARRIVAL, 1)
    for sid, (name, price, method, party) in services.items():
        conn.execute(
            "INSERT INTO services (business_id, id, name, kind, max_party_size, price, currency, payment_method,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (bid, sid, name, p.kind, party, price, p.currency, str(method), setup),
        )
    return bid, services


def _resources(
    conn: psycopg.Connection[Any], bid: uuid.UUID, p: pf.Profile, replicas: int, setup: datetime
) -> Resources:
    """The profile's resources, `replicas` times over (numbered when more than once)."""
    resources = [
        (new_id(), f"{name} #{r + 1}" if replicas > 1 else name, kind, seats)
        for r in range(replicas)
        for name, kind, seats in p.resources
    ]
    _copy(
        conn,
        "COPY resources (business_id, id, name, kind, created_at) FROM STDIN",
        ((bid, rid, name, kind, setup) for rid, name, kind, _seats in resources),
    )
    return resources


def _schedule(
    conn: psycopg.Connection[Any],
    bid: uuid.UUID,
    p: pf.Profile,
    services: Services,
    resources: Resources,
    period: tuple[datetime, datetime, datetime],
) -> tuple[uuid.UUID, list[WeeklyRule]]:
    """Schedule version 1 from start to horizon and its weekly rules: every service on every resource."""
    start, horizon, setup = period
    version = new_id()
    conn.execute(
        "INSERT INTO schedule_versions (business_id, id, version_number, effective_date, horizon_date, note,"
        " created_by, created_by_type, created_at, is_active) VALUES (%s, %s, 1, %s, %s, 'bulk seed', 'seed',"
        " 'admin', %s, true)",
        (bid, version, start.date(), horizon.date(), setup),
    )
    first_service = next(iter(services))  # the others are members' services
    rules = [
        WeeklyRule(sid, rid, day, o.start, p.duration, p.members[1] if sid != first_service and p.members else seats)
        for sid in services
        for rid, _name, _kind, seats in resources
        for o in p.openings
        for day in p.weekdays(o, later=False)
    ]
    _copy(
        conn,
        "COPY schedule_rules (business_id, id, schedule_version_id, service_id, resource_id,"
        " iso_weekday, local_start, duration, capacity) FROM STDIN",
        (
            (bid, new_id(), version, r.service_id, r.resource_id, r.iso_weekday, r.local_start, r.duration, r.capacity)
            for r in rules
        ),
    )
    return version, rules


def _slots(
    conn: psycopg.Connection[Any],
    bid: uuid.UUID,
    version: uuid.UUID,
    rules: list[WeeklyRule],
    names: dict[uuid.UUID, str],
    tz: str,
    period: tuple[datetime, datetime, datetime],
) -> list[SlotRow]:
    """Every slot of the rules from start to horizon by the time rule publishing uses (schedule_slots),
    loaded with COPY; in (start, service name, resource name) order, the order the draw walks them."""
    start, horizon, setup = period
    generated = schedule_slots(rules, first_day=start.date(), last_day=horizon.date(), tz=zone(tz))
    slots = sorted(generated.slots, key=lambda s: (s.starts_at, names[s.service_id], names[s.resource_id]))
    ids = [new_id() for _ in slots]
    conn.execute("SET LOCAL session_replication_role = replica")
    with conn.cursor().copy(
        "COPY time_slots (business_id, id, schedule_version_id, service_id, resource_id, local_date, local_start,"
        " starts_at, ends_at, max_capacity, created_at, updated_at) FROM STDIN"
    ) as cp:
        for sid, s in zip(ids, slots, strict=True):
            cp.write_row(
                (
                    bid,
                    sid,
                    version,
                    s.service_id,
                    s.resource_id,
                    s.local_date,
                    s.local_start,
                    s.starts_at,
                    s.ends_at,
                    s.capacity,
                    setup,
                    setup,
                )
            )
    conn.execute("SET LOCAL session_replication_role = origin")
    return [
        SlotRow(sid, s.service_id, s.capacity, s.starts_at, s.ends_at, s.local_start, s.local_date.month)
        for sid, s in zip(ids, slots, strict=True)
    ]


def _copy(conn: psycopg.Connection[Any], sql: str, rows: Iterable[Sequence[object]]) -> None:
    with conn.cursor().copy(sql) as cp:
        for row in rows:
            cp.write_row(row)


def _copy_rows(conn: psycopg.Connection[Any], r: Rows) -> int:
    columns = "business_id, id, slot_id, customer_id, party_size, status, payment_method, payment_status, amount,"
    columns += " currency, version, created_at, updated_at, paid_amount, refunded_amount, cancellation_fee"
    _copy(conn, f"COPY bookings ({columns}) FROM STDIN", r.bookings)
    _copy(
        conn,
        "COPY booking_state_transitions (business_id, booking_id, from_status, to_status, reason,"
        " actor_type, actor_id, channel, occurred_at) FROM STDIN",
        r.transitions,
    )
    _copy(
        conn,
        "COPY payments (business_id, id, booking_id, amount, currency, status, refunded_amount,"
        " failure_reason, created_at, updated_at) FROM STDIN",
        r.payments,
    )
    _copy(
        conn, "COPY refunds (business_id, id, payment_id, amount, currency, reason, created_at) FROM STDIN", r.refunds
    )
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS seed_payment_events (business_id uuid, payment_id uuid, booking_id uuid,"
        " from_status payment_status, to_status payment_status, actor_type actor_type, actor_id text,"
        " channel change_channel, occurred_at timestamptz) ON COMMIT DROP"
    )
    _copy(conn, "COPY seed_payment_events FROM STDIN", r.payment_events)
    return len(r.bookings)


def _derive(conn: psycopg.Connection[Any], business_ids: list[uuid.UUID], setup: datetime) -> int:
    """booked_seats from the bookings; the audit rows the triggers would have written, in time order."""
    conn.execute(
        "UPDATE time_slots ts SET booked_seats = h.seats FROM ("
        "  SELECT business_id, slot_id, sum(party_size) AS seats FROM bookings"
        "   WHERE business_id = ANY(%(b)s) AND booking_holds_seat(status) GROUP BY 1, 2) h"
        " WHERE ts.business_id = h.business_id AND ts.id = h.slot_id",
        {"b": business_ids},
    )
    cur = conn.execute(_AUDIT, {"b": business_ids, "setup": setup})
    return cur.rowcount


_AUDIT = """
INSERT INTO booking_audit_log (business_id, entity_type, entity_id, booking_id, action, old_values, new_values,
                               reason, performed_by, performed_by_id, channel, occurred_at, reason_nonce, reason_digest)
SELECT business_id, entity_type, entity_id, booking_id, action, audit_image(entity_type, old_values),
       audit_image(entity_type, new_values), reason, performed_by, performed_by_id, channel, occurred_at,
       n.nonce, audit_digest(n.nonce, reason)
  FROM (
    SELECT ts.business_id, 'slot' AS entity_type, ts.id AS entity_id, NULL::uuid AS booking_id,
           'slot.created' AS action, NULL::jsonb AS old_values, to_jsonb(ts) || jsonb_build_object('booked_seats', 0)
           AS new_values, 'bulk seed' AS reason, 'admin'::actor_type AS performed_by, 'seed' AS performed_by_id,
           'batch'::change_channel AS channel, %(setup)s::timestamptz AS occurred_at, 0 AS k
      FROM time_slots ts WHERE ts.business_id = ANY(%(b)s)
    UNION ALL
    SELECT b.business_id, 'booking', b.id, b.id, 'booking.created', NULL,
           to_jsonb(b) || jsonb_build_object('status', t.to_status, 'payment_status', 'pending', 'version', 1,
                                             'updated_at', b.created_at),
           t.reason, t.actor_type, t.actor_id, t.channel, t.occurred_at, 1
      FROM bookings b JOIN booking_state_transitions t
        ON t.business_id = b.business_id AND t.booking_id = b.id AND t.from_status IS NULL
     WHERE b.business_id = ANY(%(b)s)
    UNION ALL
    SELECT t.business_id, 'booking', t.booking_id, t.booking_id, 'booking.' || t.to_status,
           jsonb_build_object('status', t.from_status), jsonb_build_object('status', t.to_status),
           t.reason, t.actor_type, t.actor_id, t.channel, t.occurred_at, 3
      FROM booking_state_transitions t WHERE t.business_id = ANY(%(b)s) AND t.from_status IS NOT NULL
    UNION ALL
    SELECT e.business_id, 'payment', e.payment_id, e.booking_id,
           CASE WHEN e.from_status IS NULL THEN 'payment.created' ELSE 'payment.' || e.to_status END,
           CASE WHEN e.from_status IS NULL THEN NULL ELSE jsonb_build_object('status', e.from_status) END,
           CASE WHEN e.from_status IS NULL
                THEN to_jsonb(p) || jsonb_build_object('status', 'pending', 'refunded_amount', 0,
                                                       'updated_at', p.created_at)
                ELSE jsonb_build_object('status', e.to_status) END,
           NULL, e.actor_type, e.actor_id, e.channel, e.occurred_at, 2
      FROM seed_payment_events e JOIN payments p ON p.business_id = e.business_id AND p.id = e.payment_id
    UNION ALL
    SELECT r.business_id, 'refund', r.id, p.booking_id, 'refund.created', NULL, to_jsonb(r), r.reason,
           'admin', 'seed', 'batch', r.created_at, 2
      FROM refunds r JOIN payments p ON p.business_id = r.business_id AND p.id = r.payment_id
     WHERE r.business_id = ANY(%(b)s)
  ) x
  -- The reason's commitment, as audit_write() makes it (docs/personal-data.md).
  CROSS JOIN LATERAL (SELECT CASE WHEN x.reason IS NOT NULL THEN audit_nonce() END AS nonce) n
 ORDER BY occurred_at, k
"""
