"""The audit trail page: the filtered audit log, one booking's timeline with names for its ids, the hash chain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection, text

from booking_core.domain.errors import InvalidInput
from booking_core.reports.common import UUID_RE, Scope, compose, frame, parse_booking_ref, ref, slot_label


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Audit log filters; None means any. `action` matches a prefix (e.g. 'booking.status');
    `actor_id` matches the id an actor gave or a customer actor's name."""

    booking_id: uuid.UUID | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ChainState:
    """The hash chain as audit_verify() walked it: sealed links, unsealed rows, the first broken link if any."""

    links: int
    unsealed: int
    first_bad_seq: int | None
    problem: str | None


# Who acted, by name: a customer actor by the customer's name; admins and systems by the id they gave.
_ACTOR_NAME = sql.SQL(
    """CASE WHEN a.performed_by = 'customer' AND a.performed_by_id ~ {uuid_re}
     THEN coalesce((SELECT c.name FROM customers c WHERE c.business_id = a.business_id
                     AND c.id = CAST(a.performed_by_id AS uuid)), 'unknown customer')
     ELSE a.performed_by_id END"""
).format(uuid_re=sql.Literal(UUID_RE))

# What an audit row is about, by name: the business, service, resource, customer or slot it changed,
# a schedule by its version, a booking (and its payments and refunds) by the booking's reference.
_SUBJECT = sql.SQL(
    """CASE
  WHEN a.entity_type = 'booking' THEN 'booking ' || {booking}
  WHEN a.booking_id IS NOT NULL THEN a.entity_type || ' of booking ' || {booking}
  WHEN a.entity_type = 'business' THEN z.name
  WHEN a.entity_type = 'service' THEN (SELECT x.name FROM services x
                                         WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'resource' THEN (SELECT x.name FROM resources x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'customer' THEN (SELECT x.name FROM customers x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'slot' THEN (SELECT {slot} FROM time_slots x
                                      WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'schedule' THEN (SELECT 'version ' || x.version_number FROM schedule_versions x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  END"""
).format(booking=ref("a", "booking_id"), slot=slot_label("x"))

_LOG = compose(
    """
SELECT a.id, a.occurred_at AT TIME ZONE z.timezone AS occurred_local, a.action, a.entity_type,
       coalesce({subject}, a.entity_type || ' ' || {entity}) AS subject,
       {booking} AS booking, c.name AS customer,
       a.performed_by::text AS actor_type, {actor} AS actor,
       a.channel::text AS channel, a.reason, a.booking_id::text AS booking_id
  FROM booking_audit_log a JOIN businesses z ON z.id = a.business_id
  LEFT JOIN bookings b ON b.business_id = a.business_id AND b.id = a.booking_id
  LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
 WHERE a.business_id = :b
   AND a.occurred_at >= (CAST(:start AS date)::timestamp AT TIME ZONE z.timezone)
   AND a.occurred_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE z.timezone)
   AND (CAST(:booking AS uuid) IS NULL OR a.booking_id = CAST(:booking AS uuid))
   AND (CAST(:actor_type AS text) IS NULL OR a.performed_by::text = CAST(:actor_type AS text))
   AND (CAST(:actor_id AS text) IS NULL OR a.performed_by_id = CAST(:actor_id AS text)
        OR ({actor}) = CAST(:actor_id AS text))
   AND (CAST(:action AS text) IS NULL OR a.action LIKE CAST(:action AS text) || '%')
   AND (CAST(:channel AS text) IS NULL OR a.channel::text = CAST(:channel AS text))
 ORDER BY a.id DESC LIMIT :limit
""",
    subject=_SUBJECT,
    entity=ref("a", "entity_id"),
    booking=ref("a", "booking_id"),
    actor=_ACTOR_NAME,
)

# The row images without the cancellation token: images written before migration 0012 hold the
# token itself (a bearer secret), later ones its hash (no use to a reader).
_SECRETS = sql.Literal("{cancellation_token,cancellation_token_hash}")
_TIMELINE = compose(
    """
SELECT a.id, a.occurred_at AT TIME ZONE z.timezone AS occurred_local, a.action, a.entity_type,
       a.performed_by::text AS actor_type, {actor} AS actor, a.channel::text AS channel,
       a.reason, a.old_values - CAST({secrets} AS text[]) AS old_values,
       a.new_values - CAST({secrets} AS text[]) AS new_values
  FROM booking_audit_log a JOIN businesses z ON z.id = a.business_id
 WHERE a.business_id = :b AND a.booking_id = :bk ORDER BY a.id""",
    actor=_ACTOR_NAME,
    secrets=_SECRETS,
)

_BOOKING_LABELS = sql.SQL(
    """
SELECT b.id::text AS booking_id, {booking} AS booking, c.name AS customer,
       {slot} AS slot, b.status::text AS status
  FROM bookings b
  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
  JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id
 WHERE b.business_id = :b"""
).format(booking=ref("b", "id"), slot=slot_label("s"))
# right(): the reference's digits are the id's last 8 (no index helps; one business's bookings).
_BOOKINGS_BY_REF = compose(
    "{labels} AND right(b.id::text, 8) = :digits ORDER BY b.created_at, b.id", labels=_BOOKING_LABELS
)
_BOOKING_BY_ID = compose("{labels} AND b.id = :bk", labels=_BOOKING_LABELS)

_TIMELINE_NAMES = compose(
    """
WITH v AS (
  SELECT DISTINCT CAST(x.value #>> '{{}}' AS uuid) AS id
    FROM booking_audit_log a
   CROSS JOIN LATERAL jsonb_each((coalesce(a.old_values, '{{}}') || coalesce(a.new_values, '{{}}'))
                                 - CAST({secrets} AS text[])) x
   WHERE a.business_id = :b AND a.booking_id = :bk AND jsonb_typeof(x.value) = 'string'
     AND (x.value #>> '{{}}') ~ {uuid_re})
SELECT v.id::text AS id,
       coalesce(z.name, c.name, sv.name, r.name, {slot}, 'schedule version ' || sch.version_number,
                'booking ' || {booking}, 'payment of booking ' || {payment}) AS name
  FROM v
  LEFT JOIN businesses z ON z.id = v.id AND z.id = :b
  LEFT JOIN customers c ON c.business_id = :b AND c.id = v.id
  LEFT JOIN services sv ON sv.business_id = :b AND sv.id = v.id
  LEFT JOIN resources r ON r.business_id = :b AND r.id = v.id
  LEFT JOIN time_slots s ON s.business_id = :b AND s.id = v.id
  LEFT JOIN schedule_versions sch ON sch.business_id = :b AND sch.id = v.id
  LEFT JOIN bookings bk ON bk.business_id = :b AND bk.id = v.id
  LEFT JOIN payments pm ON pm.business_id = :b AND pm.id = v.id""",
    uuid_re=sql.Literal(UUID_RE),
    secrets=_SECRETS,
    slot=slot_label("s"),
    booking=ref("bk", "id"),
    payment=ref("pm", "booking_id"),
)

_CHAIN = text("SELECT * FROM audit_verify(:b)")


def audit_log(conn: Connection, scope: Scope, where: AuditFilter, *, limit: int = 500) -> pd.DataFrame:
    """The newest audit rows of the business in the date range that match the filter.

    `subject` names what a row changed, `booking` is its booking's reference, `customer` that booking's
    customer, `actor` who acted by name; `booking_id` (text) is there for a link to the booking's timeline.
    """
    params = scope.params() | {
        "booking": str(where.booking_id) if where.booking_id else None,
        "actor_type": where.actor_type,
        "actor_id": where.actor_id,
        "action": where.action,
        "channel": where.channel,
        "limit": limit,
    }
    return frame(conn, _LOG, params)


def booking_timeline(conn: Connection, business_id: uuid.UUID, booking_id: uuid.UUID) -> pd.DataFrame:
    """Every audit row of one booking, oldest first, with its before/after values (`actor` by name).

    The values leave out the cancellation token (and its hash): a bearer secret, not history to show.
    """
    return frame(conn, _TIMELINE, {"b": business_id, "bk": booking_id})


def find_bookings(conn: Connection, business_id: uuid.UUID, wanted: str) -> pd.DataFrame:
    """The business's bookings with this reference (`7F3A-91C2`, any case, dash optional) or full id.

    Usually one row; a reference can match more (see `booking_ref`), an unknown one none. Columns:
    booking_id (text), booking (the reference), customer, slot (local date and time), status.
    """
    try:
        booking = uuid.UUID(wanted.strip())
    except ValueError:
        typed = parse_booking_ref(wanted)
        if typed is None:
            raise InvalidInput(
                f"{wanted.strip()!r} is not a booking reference: type one as shown, e.g. 7F3A-91C2"
            ) from None
        return frame(conn, _BOOKINGS_BY_REF, {"b": business_id, "digits": typed.replace("-", "").lower()})
    return frame(conn, _BOOKING_BY_ID, {"b": business_id, "bk": booking})


def timeline_names(conn: Connection, business_id: uuid.UUID, booking_id: uuid.UUID) -> dict[str, str]:
    """A name for every id the booking's audit rows hold as a value (customer, slot, service, ...).

    Ids of nothing the business names (an idempotency key) are left out:
    callers show those by their short reference.
    """
    rows = conn.execute(_TIMELINE_NAMES, {"b": business_id, "bk": booking_id}).all()
    return {str(r.id): str(r.name) for r in rows if r.name is not None}


def audit_chain_state(conn: Connection, business_id: uuid.UUID) -> ChainState:
    """The hash chain walked by audit_verify()."""
    row = conn.execute(_CHAIN, {"b": business_id}).one()
    return ChainState(int(row.links), int(row.unsealed), row.first_bad_seq, row.problem)
