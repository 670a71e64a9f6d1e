"""What "overbooked" means, once, for every reader: the integrity rules, the exporter's metrics, the dashboard.

A slot is over-committed when it holds more seats than its capacity. A capacity reduction may
do that legitimately: it honours the seats already booked and takes no new one until the slot is
back under (docs/invariants.md). So an over-committed slot is explained when a recorded change
to its current capacity found at least the seats it holds now booked: after such a change seats
only go down until the slot is back under capacity. It is *overbooked* when nothing explains it:
someone wrote the seats or the capacity behind the database's back.

A reduction to some other capacity explains nothing: once the capacity changed again, the seats
it honoured are judged against the new capacity and the record of that change. (The record is not
ordered reliably - changed_at is the caller's clock - so any change to today's capacity counts.)
"""

from __future__ import annotations

from psycopg import sql


def explained_by_reduction(slot: str, seats: sql.Composable) -> sql.Composed:
    """A recorded change to slot `slot`'s current capacity found at least `seats` booked."""
    return sql.SQL(
        "EXISTS (SELECT 1 FROM slot_capacity_changes c"
        " WHERE c.business_id = {business} AND c.slot_id = {id}"
        " AND c.new_capacity = {capacity} AND c.booked_seats_at_change >= {seats})"
    ).format(
        business=sql.Identifier(slot, "business_id"),
        id=sql.Identifier(slot, "id"),
        capacity=sql.Identifier(slot, "max_capacity"),
        seats=seats,
    )


def over_capacity(slot: str, seats: sql.Composable) -> sql.Composed:
    return sql.SQL("{seats} > {capacity}").format(seats=seats, capacity=sql.Identifier(slot, "max_capacity"))


def overbooked(slot: str, seats: sql.Composable) -> sql.Composed:
    """Slot `slot` (an alias of time_slots) holds `seats`, more than its capacity, and no reduction explains it."""
    return sql.SQL("({over} AND NOT {explained})").format(
        over=over_capacity(slot, seats), explained=explained_by_reduction(slot, seats)
    )


def over_committed_by_reduction(slot: str, seats: sql.Composable) -> sql.Composed:
    """Slot `slot` holds `seats`, more than its capacity, only because a recorded reduction cut it."""
    return sql.SQL("({over} AND {explained})").format(
        over=over_capacity(slot, seats), explained=explained_by_reduction(slot, seats)
    )
