"""Translate database refusals (SQLSTATE) into the typed errors of booking_core.domain.errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError

from booking_core.adapters.constraints import refusal
from booking_core.domain import errors as e

_BY_SQLSTATE: dict[str, type[e.BookingError]] = {
    "BK001": e.CapacityExceeded,
    "BK002": e.LegacySlot,
    "BK003": e.UnknownSlot,
    "BK004": e.IllegalTransition,
    "BK005": e.ActorNotAllowed,
    "BK006": e.IntegrityRefused,
    "BK007": e.IntegrityRefused,
    "BK008": e.IdempotencyConflict,
    "BK009": e.CurrencyMismatch,
    "BK010": e.RefundExceedsPayment,
    "BK011": e.UnknownTimezone,
    "BK012": e.Unavailable,
    "BK013": e.InvalidPartySize,
    "BK014": e.InvalidPromoCode,
    "BK015": e.OfferExpired,
    "BK016": e.UnknownResource,
    "BK017": e.InvalidInput,
    "BK018": e.ResourcesUnavailable,
}

# Lost races for a lock: the transaction was rolled back, the same request may succeed now.
_BUSY = {
    "40P01": "a deadlock was resolved against this request",
    "55P03": "a lock was not granted within the lock timeout",
    "40001": "a concurrent change made this transaction unserializable",
    "57014": "the statement ran past its timeout",
}

_CONSTRAINT_HINTS = {
    "23503": "it refers to something that does not exist in this business",
    "23505": "it already exists",
    "23514": "a value breaks a rule of the schema",
    "23502": "a required value is missing",
    "42501": "this database role is not allowed to do that",
    "42P01": "the schema is not migrated: run `booking db upgrade`",
    "42883": "the schema is not migrated: run `booking db upgrade`",
}


def sqlstate_of(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


def _details(diag: object) -> dict[str, object]:
    """The structured context a refusal carries as a JSON object in its DETAIL (e.g. what is missing)."""
    raw = getattr(diag, "message_detail", None)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def translate(exc: DBAPIError | psycopg.Error) -> e.BookingError:
    """The typed error for a database exception; its message is the database's first line."""
    state = sqlstate_of(exc)
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(orig)).splitlines()[0]
    if state in _BY_SQLSTATE:
        return _BY_SQLSTATE[state](primary, sqlstate=state, **_details(diag))
    if state in _BUSY:
        return e.Busy(f"the database was busy ({_BUSY[state]}); nothing was changed: try again", sqlstate=state)
    constraint = getattr(diag, "constraint_name", None)
    if known := refusal(constraint, sqlstate=state):
        return known
    if state in _CONSTRAINT_HINTS:
        where = f" ({constraint})" if constraint else ""
        return e.IntegrityRefused(f"refused{where}: {_CONSTRAINT_HINTS[state]}", sqlstate=state)
    if isinstance(exc, OperationalError | psycopg.OperationalError) or (state or "").startswith("08"):
        return e.DatabaseUnavailable(
            f"cannot reach the database ({primary}): check BOOKING_DATABASE_URL", sqlstate=state
        )
    return e.IntegrityRefused(f"the database refused the change: {primary}", sqlstate=state)


@contextmanager
def database_errors() -> Iterator[None]:
    """Re-raise database exceptions as typed booking errors."""
    try:
        yield
    except DBAPIError as exc:
        raise translate(exc) from exc
