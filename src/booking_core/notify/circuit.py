"""The circuit breaker for one webhook, and the retry delay (exponential backoff with full jitter).

closed ──N consecutive failures──▶ open ──cool-down elapsed──▶ half_open ──probe ok──▶ closed
                                    ▲                              │
                                    └────────probe failed──────────┘  (cool-down doubles, to a cap)

Pure: the time comes in as an argument and randomness as an injected `random.Random`.
Thread-safe, so the workers of one dispatcher process can share one breaker (and one probe).
"""

from __future__ import annotations

import enum
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads retries of many messages that failed together, so a receiver that comes
    back is not hit by all of them in the same second.
    """
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return rng.uniform(0.0, ceiling)


@dataclass
class CircuitBreaker:
    """Stops sending to a receiver that keeps failing, then lets one probe through after a cool-down."""

    failure_threshold: int = 5
    cool_down: timedelta = timedelta(seconds=30)
    max_cool_down: timedelta = timedelta(minutes=15)
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    retry_at: datetime | None = None
    reopenings: int = 0
    _probe_taken: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def allowance(self, now: datetime) -> int | None:
        """How many messages the caller may send now: None (no limit) when closed; when half-open,
        1 to the first caller (the probe) and 0 to the others until its result is recorded; else 0."""
        with self._lock:
            if self.state is CircuitState.OPEN and self.retry_at is not None and now >= self.retry_at:
                self.state = CircuitState.HALF_OPEN
                self._probe_taken = False
            if self.state is CircuitState.CLOSED:
                return None
            if self.state is CircuitState.HALF_OPEN and not self._probe_taken:
                self._probe_taken = True
                return 1
            return 0

    def return_probe(self) -> None:
        """The probe was not sent (nothing was due): let the next caller take it."""
        with self._lock:
            self._probe_taken = False

    def record_success(self) -> None:
        with self._lock:
            self.state = CircuitState.CLOSED
            self.consecutive_failures = 0
            self.opened_at = self.retry_at = None
            self.reopenings = 0

    def record_failure(self, now: datetime) -> None:
        with self._lock:
            self.consecutive_failures += 1
            if self.state is CircuitState.HALF_OPEN:
                self.reopenings += 1
                self._open(now)
            elif self.state is CircuitState.CLOSED and self.consecutive_failures >= self.failure_threshold:
                self._open(now)

    def _open(self, now: datetime) -> None:
        # A receiver down for hours costs a probe every max_cool_down, not every cool_down.
        wait = min(self.cool_down * 2 ** min(self.reopenings, 30), self.max_cool_down)
        self.state = CircuitState.OPEN
        self.opened_at = now
        self.retry_at = now + wait
