"""Recurring series: every N days from a first slot; exceptions; edits to one, following, or all occurrences.

Every occurrence is a real booking (its own status, transitions and audit rows) carrying the
series id and its occurrence number.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import BookingError, Busy, InvalidInput, SeriesUnavailable, UnknownSlot
from booking_core.domain.lifecycle import BookingStatus, check_transition
from booking_core.domain.model import Booking
from booking_core.domain.values import Actor, new_id
from booking_core.services import idempotency
from booking_core.services.bookings import (
    BOOKING_COLUMNS,
    authorize,
    create_in,
    update_booking,
    validate_party_size,
)


class SeriesMode(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"  # every occurrence or none
    BEST_EFFORT = "best_effort"  # book what is free, report the rest


class Scope(enum.StrEnum):
    THIS = "this"
    FOLLOWING = "following"  # this occurrence and every later one
    ALL = "all"


@dataclass(frozen=True, slots=True)
class SeriesReport:
    series_id: uuid.UUID
    booked: tuple[Booking, ...]
    refused: tuple[tuple[int, str], ...]  # occurrence number, why


def create_series(
    db: Database,
    business_id: uuid.UUID,
    *,
    first_slot_id: uuid.UUID,
    customer_id: uuid.UUID,
    party_size: int,
    every_days: int,
    occurrences: int,
    mode: SeriesMode,
    actor: Actor,
    now: datetime,
    skip: Collection[int] = (),
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> SeriesReport:
    """Book occurrence k at the first slot's wall time, k * every_days later, for k not in `skip`.

    A retried key returns the series it made: its bookings as they are now, and the
    occurrences it refused then; nothing is booked again.
    """
    validate_party_size(party_size)
    if not 1 <= every_days <= 366 or not 1 <= occurrences <= 520:
        raise InvalidInput("a series repeats every 1 to 366 days, 1 to 520 times")
    wanted = [k for k in range(occurrences) if k not in set(skip)]
    if not wanted:
        raise InvalidInput("this series has no occurrences left after the skips: book fewer exceptions")
    mode = _choice(SeriesMode, mode)
    request = {
        "first_slot": first_slot_id,
        "customer": customer_id,
        "party": party_size,
        "every_days": every_days,
        "occurrences": occurrences,
        "mode": str(mode),
        "skip": sorted(set(skip)),
    }
    with db.unit_of_work(actor, now=now, reason=reason or "recurring series") as uow:
        prior = idempotency.begin(uow, business_id, idempotency_key, "create_series", request)
        if prior is not None:
            return _replayed(uow, business_id, prior)
        first = uow.execute(
            "SELECT service_id, resource_id, local_date, local_start FROM time_slots"
            " WHERE business_id = :b AND id = :s",
            b=business_id,
            s=first_slot_id,
        ).one_or_none()
        if first is None:
            raise UnknownSlot(f"slot {first_slot_id} does not exist in this business: list its slots")
        dates = {k: first.local_date + timedelta(days=k * every_days) for k in wanted}
        slots = dict(
            uow.execute(
                "SELECT local_date, id FROM time_slots"
                " WHERE business_id = :b AND service_id = :svc AND resource_id = :r"
                " AND local_start = :ls AND local_date = ANY(:days) AND NOT is_legacy",
                b=business_id,
                svc=first.service_id,
                r=first.resource_id,
                ls=first.local_start,
                days=list(dates.values()),
            ).all()
        )
        series_id = new_id()
        uow.execute(
            "INSERT INTO booking_series (business_id, id, customer_id, service_id, resource_id, first_local_date,"
            " local_start, every_days, occurrences, party_size, mode, created_at)"
            " VALUES (:b, :id, :c, :svc, :r, :d, :ls, :n, :occ, :p, :m, :now)",
            b=business_id,
            id=series_id,
            c=customer_id,
            svc=first.service_id,
            r=first.resource_id,
            d=first.local_date,
            ls=first.local_start,
            n=every_days,
            occ=occurrences,
            p=party_size,
            m=str(mode),
            now=now,
        )
        # Every slot in id order before the first booking (the lock order of every path): no
        # deadlock with other multi-slot paths, and no partial all-or-nothing series.
        uow.execute("SELECT slot_lock(:b, :ids)", b=business_id, ids=sorted(slots.values()))
        booked: list[Booking] = []
        refused: list[tuple[int, str]] = []
        for k in wanted:
            slot_id = slots.get(dates[k])
            if slot_id is None:
                refused.append((k, f"no slot on {dates[k]} in the current schedule"))
                continue
            savepoint = uow.conn.begin_nested()
            try:
                booking, _ = create_in(
                    uow,
                    business_id=business_id,
                    slot_id=slot_id,
                    customer_id=customer_id,
                    party_size=party_size,
                    actor=actor,
                    now=now,
                    series_id=series_id,
                    occurrence=k,
                    reason=reason,
                )
                savepoint.commit()
                booked.append(booking)
            except Busy:
                raise  # a lost lock race is not a refusal of this occurrence: the caller retries the series
            except BookingError as exc:
                savepoint.rollback()
                refused.append((k, str(exc)))
        if refused and mode is SeriesMode.ALL_OR_NOTHING:
            listed = "; ".join(f"#{k}: {why}" for k, why in refused[:3])
            raise SeriesUnavailable(
                f"{len(refused)} of {len(wanted)} occurrences cannot be booked ({listed}): nothing was booked;"
                " change the series or use best_effort",
                failures=refused,
            )
        result = {"series_id": series_id, "refused": refused}
        idempotency.record(uow, business_id, idempotency_key, "create_series", request, result)
        uow.commit()
    return SeriesReport(series_id, tuple(booked), tuple(refused))


def _replayed(uow: UnitOfWork, business_id: uuid.UUID, prior: dict[str, Any]) -> SeriesReport:
    """The series a keyed request made: its bookings as they are now, what it refused then."""
    series_id = uuid.UUID(str(prior["series_id"]))
    rows = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND series_id = :sr ORDER BY occurrence, id",
        b=business_id,
        sr=series_id,
    ).all()
    refused = tuple((int(k), str(why)) for k, why in prior["refused"])
    return SeriesReport(series_id, tuple(Booking.from_row(r) for r in rows), refused)


_E = TypeVar("_E", bound=enum.StrEnum)


def _choice(kind: type[_E], value: object) -> _E:
    """The enum member named by `value`, or InvalidInput listing the choices."""
    try:
        return kind(str(value))
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{value!r} is not a {kind.__name__}: pass one of {names}") from None


def _occurrences(
    uow: UnitOfWork, business_id: uuid.UUID, series_id: uuid.UUID, scope: Scope, occurrence: int
) -> list[Booking]:
    where = {Scope.THIS: "occurrence = :k", Scope.FOLLOWING: "occurrence >= :k", Scope.ALL: "true"}[
        _choice(Scope, scope)
    ]
    rows = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND series_id = :sr AND {where}"
        " AND status IN ('draft', 'confirmed') ORDER BY id FOR UPDATE",
        b=business_id,
        sr=series_id,
        k=occurrence,
    ).all()
    return [Booking.from_row(r) for r in rows]


def _edit(
    db: Database,
    business_id: uuid.UUID,
    series_id: uuid.UUID,
    *,
    scope: Scope,
    occurrence: int,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None,
    reason: str,
    change: Callable[[Booking], dict[str, Any]],
) -> list[Booking]:
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        targets = _occurrences(uow, business_id, series_id, scope, occurrence)
        if not targets:
            raise InvalidInput(f"no open occurrence of series {series_id} in scope {scope} from #{occurrence}")
        # Bookings (locked above, in id order), then all their slots in id order, then (by the triggers) queues.
        uow.execute("SELECT slot_lock(:b, :ids)", b=business_id, ids=sorted({b.slot_id for b in targets}))
        out = []
        for b in targets:
            authorize(b, actor, token)
            changes = change(b)
            if "status" in changes:
                check_transition(b.status, changes["status"], actor.type)
            out.append(update_booking(uow, b, **changes))
        uow.commit()
    return out


def cancel_series(
    db: Database,
    business_id: uuid.UUID,
    series_id: uuid.UUID,
    *,
    scope: Scope = Scope.ALL,
    occurrence: int = 0,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None = None,
    reason: str | None = None,
) -> list[Booking]:
    """Cancel this occurrence, this and following ones, or the whole series (open occurrences only)."""
    return _edit(
        db,
        business_id,
        series_id,
        scope=scope,
        occurrence=occurrence,
        actor=actor,
        now=now,
        token=token,
        reason=reason or f"series cancelled ({scope})",
        change=lambda _b: {"status": BookingStatus.CANCELLED},
    )


def change_series_party_size(
    db: Database,
    business_id: uuid.UUID,
    series_id: uuid.UUID,
    *,
    party_size: int,
    scope: Scope = Scope.ALL,
    occurrence: int = 0,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None = None,
) -> list[Booking]:
    """Change the party of the occurrences in scope, all or nothing (any full slot refuses the edit)."""
    validate_party_size(party_size)

    def change(b: Booking) -> dict[str, Any]:
        unit = b.unit_price if b.unit_price is not None else b.amount / b.party_size
        return {"party_size": party_size, "amount": max(unit * party_size - b.discount, 0)}

    return _edit(
        db,
        business_id,
        series_id,
        scope=scope,
        occurrence=occurrence,
        actor=actor,
        now=now,
        token=token,
        reason=f"series party size changed ({scope})",
        change=change,
    )
