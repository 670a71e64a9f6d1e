"""Recurring series: every N days from a first slot; exceptions; edits to one, following, or all occurrences.

Every occurrence is a real booking (its own status, transitions and audit rows) carrying the
series id and its occurrence number.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row, text

from booking_core.adapters.db import UnitOfWork
from booking_core.adapters.records import BOOKINGS, of_business
from booking_core.domain.errors import BookingError, Busy, InvalidInput, SeriesUnavailable, UnknownSlot
from booking_core.domain.lifecycle import OPEN, BookingStatus, check_transition
from booking_core.domain.model import Booking
from booking_core.domain.money import party_amount
from booking_core.domain.ownership import require_owner
from booking_core.domain.requests import (
    BookingRequest,
    Scope,
    SeriesCancelRequest,
    SeriesMode,
    SeriesPartySizeRequest,
    SeriesRequest,
)
from booking_core.services import idempotency
from booking_core.services.bookings import authorize, create_in, update_booking, validate_party_size
from booking_core.services.context import Context

__all__ = ["Scope", "SeriesMode", "SeriesReport", "cancel_series", "change_series_party_size", "create_series"]


@dataclass(frozen=True, slots=True)
class SeriesReport:
    series_id: uuid.UUID
    booked: tuple[Booking, ...]
    refused: tuple[tuple[int, str], ...]  # occurrence number, why


def create_series(ctx: Context, request: SeriesRequest) -> SeriesReport:
    """Book occurrence k at the first slot's wall time, k * every_days later, for k not in `skip`.

    A retried key returns the series it made: its bookings as they are now, and the
    occurrences it refused then; nothing is booked again.
    """
    require_owner(request.actor, request.customer_id, "this series request")
    wanted, mode = _occurrences_wanted(request)
    business_id, key = request.business_id, request.idempotency_key
    keyed = _fingerprint(request, mode)
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason or "recurring series") as uow:
        prior = idempotency.begin(uow, business_id, key, "create_series", keyed)
        if prior is not None:
            return _replayed(uow, business_id, prior)
        first = _first_slot(uow, request)
        dates = {k: first.local_date + timedelta(days=k * request.every_days) for k in wanted}
        slots = _current_slots(uow, business_id, first, list(dates.values()))
        series_id = _insert_series(uow, request, first, mode)
        # Every slot in id order before the first booking (the lock order of every path): no
        # deadlock with other multi-slot paths, and no partial all-or-nothing series.
        uow.execute("SELECT slot_lock(:b, :ids)", b=business_id, ids=sorted(slots.values()))
        booked, refused = _book_occurrences(uow, request, series_id, {k: (d, slots.get(d)) for k, d in dates.items()})
        if refused and mode is SeriesMode.ALL_OR_NOTHING:
            listed = "; ".join(f"#{k}: {why}" for k, why in refused[:3])
            raise SeriesUnavailable(
                f"{len(refused)} of {len(wanted)} occurrences cannot be booked ({listed}): nothing was booked;"
                " change the series or use best_effort",
                failures=refused,
            )
        idempotency.record(uow, business_id, key, "create_series", keyed, {"series_id": series_id, "refused": refused})
        uow.commit()
    return SeriesReport(series_id, tuple(booked), tuple(refused))


def _occurrences_wanted(request: SeriesRequest) -> tuple[list[int], SeriesMode]:
    """The occurrence numbers to book and the mode, or InvalidInput."""
    validate_party_size(request.party_size)
    if not 1 <= request.every_days <= 366 or not 1 <= request.occurrences <= 520:
        raise InvalidInput("a series repeats every 1 to 366 days, 1 to 520 times")
    skip = set(request.skip)
    wanted = [k for k in range(request.occurrences) if k not in skip]
    if not wanted:
        raise InvalidInput("this series has no occurrences left after the skips: book fewer exceptions")
    return wanted, _choice(SeriesMode, request.mode)


def _fingerprint(request: SeriesRequest, mode: SeriesMode) -> dict[str, object]:
    """What the series asks for, as its idempotency key remembers it."""
    return {
        "first_slot": request.first_slot_id,
        "customer": request.customer_id,
        "party": request.party_size,
        "every_days": request.every_days,
        "occurrences": request.occurrences,
        "mode": str(mode),
        "skip": sorted(set(request.skip)),
    }


def _first_slot(uow: UnitOfWork, request: SeriesRequest) -> Row[Any]:
    first = uow.execute(
        "SELECT service_id, resource_id, local_date, local_start FROM time_slots WHERE business_id = :b AND id = :s",
        b=request.business_id,
        s=request.first_slot_id,
    ).one_or_none()
    if first is None:
        raise UnknownSlot.for_id(request.first_slot_id)
    return first


def _current_slots(uow: UnitOfWork, business_id: uuid.UUID, first: Row[Any], days: list[date]) -> dict[date, uuid.UUID]:
    """The current schedule's slots at the first slot's service, resource and wall time on `days`."""
    rows = uow.execute(
        "SELECT local_date, id FROM time_slots"
        " WHERE business_id = :b AND service_id = :svc AND resource_id = :r"
        " AND local_start = :ls AND local_date = ANY(:days) AND NOT is_legacy",
        b=business_id,
        svc=first.service_id,
        r=first.resource_id,
        ls=first.local_start,
        days=days,
    ).all()
    return {r.local_date: r.id for r in rows}


_INSERT_SERIES = text(
    "INSERT INTO booking_series (business_id, id, customer_id, service_id, resource_id, first_local_date,"
    " local_start, every_days, occurrences, party_size, mode, created_at)"
    " VALUES (:b, :id, :c, :service_id, :resource_id, :local_date, :local_start, :n, :occ, :p, :m, :now)"
)


def _insert_series(uow: UnitOfWork, request: SeriesRequest, first: Row[Any], mode: SeriesMode) -> uuid.UUID:
    return uow.insert(
        _INSERT_SERIES,
        request.business_id,
        **first._mapping,  # the first slot's service_id, resource_id, local_date and local_start
        c=request.customer_id,
        n=request.every_days,
        occ=request.occurrences,
        p=request.party_size,
        m=str(mode),
    )


def _book_occurrences(
    uow: UnitOfWork,
    request: SeriesRequest,
    series_id: uuid.UUID,
    occurrences: dict[int, tuple[date, uuid.UUID | None]],
) -> tuple[list[Booking], list[tuple[int, str]]]:
    """Book each occurrence (number -> its date and slot) in a savepoint of its own; the refused say why."""
    booked: list[Booking] = []
    refused: list[tuple[int, str]] = []
    for k, (day, slot_id) in occurrences.items():
        if slot_id is None:
            refused.append((k, f"no slot on {day} in the current schedule"))
            continue
        occurrence = BookingRequest(
            request.business_id,
            slot_id=slot_id,
            customer_id=request.customer_id,
            party_size=request.party_size,
            actor=request.actor,
            reason=request.reason,
        )
        savepoint = uow.conn.begin_nested()
        try:
            booking, _ = create_in(uow, occurrence, series_id=series_id, occurrence=k)
            savepoint.commit()
            booked.append(booking)
        except Busy:
            raise  # a lost lock race is not a refusal of this occurrence: the caller retries the series
        except BookingError as exc:
            savepoint.rollback()
            refused.append((k, str(exc)))
    return booked, refused


def _replayed(uow: UnitOfWork, business_id: uuid.UUID, prior: dict[str, Any]) -> SeriesReport:
    """The series a keyed request made: its bookings as they are now, what it refused then."""
    series_id = uuid.UUID(str(prior["series_id"]))
    query = of_business(BOOKINGS, business_id, BOOKINGS.c.series_id == series_id).order_by(
        BOOKINGS.c.occurrence, BOOKINGS.c.id
    )
    rows = uow.execute(query).all()
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


def _occurrences(uow: UnitOfWork, request: SeriesCancelRequest | SeriesPartySizeRequest) -> list[Booking]:
    """The open occurrences in the request's scope, locked in id order."""
    k = BOOKINGS.c.occurrence
    in_scope = {Scope.THIS: k == request.occurrence, Scope.FOLLOWING: k >= request.occurrence, Scope.ALL: None}[
        _choice(Scope, request.scope)
    ]
    query = of_business(BOOKINGS, request.business_id, BOOKINGS.c.series_id == request.series_id)
    if in_scope is not None:
        query = query.where(in_scope)
    query = query.where(BOOKINGS.c.status.in_([str(s) for s in sorted(OPEN)])).order_by(BOOKINGS.c.id).with_for_update()
    return [Booking.from_row(r) for r in uow.execute(query).all()]


def _edit(
    ctx: Context,
    request: SeriesCancelRequest | SeriesPartySizeRequest,
    *,
    reason: str,
    change: Callable[[Booking], dict[str, Any]],
) -> list[Booking]:
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=reason) as uow:
        targets = _occurrences(uow, request)
        if not targets:
            raise InvalidInput(
                f"no open occurrence of series {request.series_id} in scope {request.scope} from #{request.occurrence}"
            )
        # Bookings (locked above, in id order), then all their slots in id order, then (by the triggers) queues.
        uow.execute("SELECT slot_lock(:b, :ids)", b=request.business_id, ids=sorted({b.slot_id for b in targets}))
        out = []
        for b in targets:
            authorize(b, request.actor, request.token)
            changes = change(b)
            if "status" in changes:
                check_transition(b.status, changes["status"], request.actor.type)
            out.append(update_booking(uow, b, **changes))
        uow.commit()
    return out


def cancel_series(ctx: Context, request: SeriesCancelRequest) -> list[Booking]:
    """Cancel this occurrence, this and following ones, or the whole series (open occurrences only)."""
    return _edit(
        ctx,
        request,
        reason=request.reason or f"series cancelled ({request.scope})",
        change=lambda _b: {"status": BookingStatus.CANCELLED},
    )


def change_series_party_size(ctx: Context, request: SeriesPartySizeRequest) -> list[Booking]:
    """Change the party of the occurrences in scope, all or nothing (any full slot refuses the edit)."""
    party_size = request.party_size
    validate_party_size(party_size)

    def change(b: Booking) -> dict[str, Any]:
        # Booked before unit prices were recorded: the unit is what the party paid each.
        unit = b.unit_price if b.unit_price is not None else b.amount / b.party_size
        return {"party_size": party_size, "amount": party_amount(unit, b.discount, party_size)}

    return _edit(ctx, request, reason=f"series party size changed ({request.scope})", change=change)
