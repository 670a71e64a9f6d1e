"""Translate database exceptions into the typed errors of booking_core.domain.errors.

The one translation layer: refusals by SQLSTATE, lost races (Busy), and every way a connection
can fail (DatabaseUnavailable, retryable) whether it arrives as a psycopg error, a SQLAlchemy
DBAPIError, or one of SQLAlchemy's own errors about a connection that died under it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa

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
    "BK019": e.BusinessFrozen,
    "BK020": e.ErasureRefused,
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


# The server going away: the connection is gone, the same request may succeed on a new one.
_RESTARTING = {
    "57P01": "the server terminated the connection (admin shutdown or a killed backend)",
    "57P02": "the server terminated the connection (crash of another server process)",
    "57P03": "the server is starting up, shutting down or in recovery",
    "57P05": "the connection was idle past the server's idle session timeout",
}

_PERMANENT = re.compile(
    r"(database|role) \"[^\"]*\" does not exist|password authentication failed|no pg_hba\.conf entry"
)

#: Everything the translation layer accepts: psycopg's errors and all of SQLAlchemy's.
DatabaseException = (psycopg.Error, sa.SQLAlchemyError)


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


def is_disconnect(exc: BaseException) -> bool:
    """Did this exception leave the connection unusable (lost, closed, or closed by the server)?"""
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    state = sqlstate_of(exc) or ""
    if state in _RESTARTING or state.startswith("08"):
        return True
    orig = getattr(exc, "orig", exc)
    # psycopg raises these without a SQLSTATE when the socket dies under it.
    return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError) and not state


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def unavailable(exc: BaseException, *, connecting: bool = False) -> e.DatabaseUnavailable:
    """The retryable DatabaseUnavailable for a connection that failed: what happened, what to do."""
    state = sqlstate_of(exc)
    orig = getattr(exc, "orig", exc)
    what = _first_line(getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig))
    # psycopg words a refused connection attempt so (its connect() raised it, whatever path
    # opened the connection: a pool, an engine of the readers): the server cannot be reached.
    connecting = connecting or what.startswith(("connection failed:", "connection to server at"))
    if state in _RESTARTING:
        message = f"the database connection was lost: {_RESTARTING[state]} ({what}); try again in a moment"
    elif connecting:
        message = (
            f"cannot reach the database ({what}): check BOOKING_DATABASE_URL and that the server"
            " is running, then try again"
        )
    else:
        message = f"the database connection was lost ({what}); try again in a moment"
    # A wrong password, role or database name stays wrong however often it is tried (psycopg
    # reports a refused connection attempt without its SQLSTATE, hence the message too).
    retryable = not ((state or "").startswith(("28", "3D")) or _PERMANENT.search(what))
    return e.DatabaseUnavailable(message, retryable=retryable, sqlstate=state)


def translate(exc: BaseException, *, connecting: bool = False) -> e.BookingError:
    """The typed error for a database exception; its message is the database's first line.

    `connecting` says the exception came from opening a connection (then a failure means
    the server cannot be reached: check the URL), not from using one (the connection was lost).
    """
    if isinstance(exc, e.BookingError):
        return exc
    if isinstance(exc, sa.SQLAlchemyError) and not isinstance(exc, sa.DBAPIError):
        return _sqlalchemy_own(exc)
    state = sqlstate_of(exc)
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    primary = _first_line(getattr(diag, "message_primary", None) or str(orig)) or type(orig).__name__
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
    if connecting or is_disconnect(exc) or isinstance(exc, sa.OperationalError | psycopg.OperationalError):
        return unavailable(exc, connecting=connecting)
    return e.IntegrityRefused(f"the database refused the change: {primary}", sqlstate=state)


def _sqlalchemy_own(exc: sa.SQLAlchemyError) -> e.BookingError:
    """SQLAlchemy's errors that are not the driver's: on our paths, each means a dead connection
    (it was invalidated, its transaction can no longer be used, its result was closed under it),
    or a pool with no connection free in time."""
    what = _first_line(str(exc)).split(" (Background on this error")[0]
    if isinstance(exc, sa.TimeoutError):
        return e.Busy(
            f"no database connection was free in time ({what}); nothing was changed: try again", sqlstate=None
        )
    return e.DatabaseUnavailable(
        f"the database connection was lost ({type(exc).__name__}: {what}); try again in a moment", retryable=True
    )


@contextmanager
def database_errors(*, connecting: bool = False) -> Iterator[None]:
    """Re-raise database exceptions (psycopg's and every SQLAlchemy error) as typed booking errors."""
    try:
        yield
    except DatabaseException as exc:
        raise translate(exc, connecting=connecting) from exc
