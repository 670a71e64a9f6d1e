"""The waitlists page: live queues and open offers, what became of the offers made, the longest queues."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection

from booking_core.reports.common import Scope, compose, frame, in_local_range, ratio

# Live queues and offers are the state now (any slot date): a queue only exists ahead of its slot.
_ENTRIES_OF_SCOPE = sql.SQL(
    """
  FROM waitlist_entries w
  JOIN businesses z ON z.id = w.business_id
  JOIN time_slots s ON s.business_id = w.business_id AND s.id = w.slot_id"""
)
_SCOPE = sql.SQL("w.business_id = :b AND (CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))")
_OFFERED_IN_RANGE = in_local_range(sql.Identifier("w", "offered_at"))

_FIGURES = compose(
    """
SELECT count(*) FILTER (WHERE w.status = 'waiting') AS waiting,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'waiting'), 0) AS waiting_seats,
       count(*) FILTER (WHERE w.status = 'offered') AS open_offers,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'offered'), 0) AS offered_seats,
       count(*) FILTER (WHERE {offered}) AS offers_made,
       count(*) FILTER (WHERE w.status = 'accepted' AND {offered}) AS accepted,
       count(*) FILTER (WHERE w.status = 'expired' AND {offered}) AS expired
{entries} WHERE {scope}""",
    offered=_OFFERED_IN_RANGE,
    entries=_ENTRIES_OF_SCOPE,
    scope=_SCOPE,
)

_LONGEST = compose(
    """
SELECT s.local_date AS slot_date, s.local_start AS slot_time, sv.name AS service, r.name AS resource,
       count(*) FILTER (WHERE w.status = 'waiting') AS waiting,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'waiting'), 0) AS seats_wanted,
       count(*) FILTER (WHERE w.status = 'offered') AS open_offers,
       s.max_capacity AS capacity, s.booked_seats AS booked,
       min(w.joined_at) FILTER (WHERE w.status = 'waiting') AT TIME ZONE z.timezone AS first_joined
{entries}
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
 WHERE {scope} AND w.status IN ('waiting', 'offered')
 GROUP BY s.business_id, s.id, sv.name, r.name, z.timezone
HAVING count(*) FILTER (WHERE w.status = 'waiting') > 0
 ORDER BY waiting DESC, s.starts_at, s.id LIMIT :limit""",
    entries=_ENTRIES_OF_SCOPE,
    scope=_SCOPE,
)


@dataclass(frozen=True, slots=True)
class WaitlistFigures:
    """Live queues and open offers (now), and what became of the offers made in the date range."""

    waiting: int
    waiting_seats: int
    open_offers: int
    offered_seats: int
    offers_made: int
    accepted: int
    expired: int

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / offers that were decided (accepted or expired)."""
        return ratio(self.accepted, self.accepted + self.expired)


def waitlist_figures(conn: Connection, scope: Scope) -> WaitlistFigures:
    row = conn.execute(_FIGURES, scope.params()).one()
    return WaitlistFigures(**{k: int(v) for k, v in row._mapping.items()})


def longest_queues(conn: Connection, scope: Scope, *, limit: int = 10) -> pd.DataFrame:
    """The slots with the most waiting entries now, in the business's local time."""
    return frame(conn, _LONGEST, scope.params() | {"limit": limit})
