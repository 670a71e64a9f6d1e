"""What every use case runs with: the database, and the instant of the change (the request's, else the clock's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from booking_core.adapters.db import Database

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Context:
    """The database and the time of one attempt at a use case.

    `now` is the request's own instant when it brings one; otherwise the clock is read the first
    time a use case asks, and that instant holds for the rest of the attempt. A retried attempt
    gets a fresh context: a retry is a later request.
    """

    __slots__ = ("_clock", "_now", "db")

    def __init__(self, db: Database, *, now: datetime | None = None, clock: Clock = utc_now) -> None:
        self.db = db
        self._now = now
        self._clock = clock

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = self._clock()
        return self._now
