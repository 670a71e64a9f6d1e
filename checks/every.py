"""`booking check --every`: a checker that outlives database outages, and the metrics that say how it fares.

Each round runs the checks once. A round that cannot reach the database (or finds the schema
not migrated, or the database busy) is retried with jittered exponential backoff (stamina),
from 1 second up to the interval (at most 5 minutes), for as long as it takes: one line on
stderr per failed attempt, never an exit. A round that ran, even with errored checks, is
stored and waits the interval as usual.

With `--metrics-port` the checker serves its own /metrics (Prometheus text) on loopback:

  booking_checker_last_success_timestamp_seconds   the newest round that ran every check (Unix time)
  booking_checker_last_attempt_timestamp_seconds   the newest attempt, successful or not
  booking_checker_consecutive_failures             attempts failed since the last success (0: healthy)
  booking_checker_failures_total                   attempts failed since the checker started
  booking_checker_runs_total                       rounds stored since the checker started
  booking_checker_interval_seconds                 the configured interval
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from booking_core.domain.errors import BookingError, DatabaseUnavailable

if TYPE_CHECKING:
    from checks.runner import RunSummary

MAX_BACKOFF_SECONDS = 300.0
FIRST_BACKOFF_SECONDS = 1.0


def retryable(exc: Exception) -> bool:
    """What a later attempt may cure: an outage, a schema being migrated, a busy database."""
    return isinstance(exc, DatabaseUnavailable) or (isinstance(exc, BookingError) and exc.retryable)


@dataclass
class CheckerState:
    """How the checker fares; read by its /metrics under the lock."""

    interval: float
    clock: Callable[[], float] = time.time
    last_success: float | None = None
    last_attempt: float | None = None
    consecutive_failures: int = 0
    failures_total: int = 0
    runs_total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self) -> None:
        with self.lock:
            self.last_attempt = self.clock()
            self.consecutive_failures += 1
            self.failures_total += 1

    def ran(self, summary: RunSummary) -> None:
        with self.lock:
            self.last_attempt = self.clock()
            self.runs_total += 1
            if summary.errored:  # stored, but integrity is unverified: not a success
                self.consecutive_failures += 1
                self.failures_total += 1
            else:
                self.last_success = self.last_attempt
                self.consecutive_failures = 0


class CheckerCollector:
    """A prometheus_client collector over one CheckerState: fresh families at every scrape."""

    def __init__(self, state: CheckerState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.state
        with s.lock:
            if s.last_success is not None:
                yield GaugeMetricFamily(
                    "booking_checker_last_success_timestamp_seconds",
                    "When the checker last ran every check without error (Unix time).",
                    value=s.last_success,
                )
            if s.last_attempt is not None:
                yield GaugeMetricFamily(
                    "booking_checker_last_attempt_timestamp_seconds",
                    "When the checker last tried a round, successful or not (Unix time).",
                    value=s.last_attempt,
                )
            yield GaugeMetricFamily(
                "booking_checker_consecutive_failures",
                "Rounds failed (database unreachable, or checks errored) since the last success.",
                value=s.consecutive_failures,
            )
            yield CounterMetricFamily(
                "booking_checker_failures", "Rounds failed since the checker started.", value=s.failures_total
            )
            yield CounterMetricFamily(
                "booking_checker_runs", "Rounds stored since the checker started.", value=s.runs_total
            )
            yield GaugeMetricFamily(
                "booking_checker_interval_seconds", "Seconds between the checker's rounds.", value=s.interval
            )


def serve_metrics(state: CheckerState, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Serve the checker's /metrics on host:port (a daemon thread); returns the stop function."""
    from prometheus_client import CollectorRegistry, start_http_server

    from booking_core.ports import busy

    registry = CollectorRegistry()
    registry.register(CheckerCollector(state))
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise busy(host, port, exc, flag="--metrics-port") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def run_round(run: Callable[[], RunSummary], state: CheckerState, *, say: Callable[[str], None]) -> RunSummary:
    """One round: run the checks, retrying what a later attempt may cure until it works."""
    import stamina
    from stamina.instrumentation import set_on_retry_hooks

    set_on_retry_hooks([])  # our one line per failure (in `on`) is the whole report: no stamina warnings
    wait_max = max(FIRST_BACKOFF_SECONDS, min(state.interval, MAX_BACKOFF_SECONDS))
    attempts = stamina.retry_context(
        on=_noting(state, say), attempts=None, timeout=None, wait_initial=FIRST_BACKOFF_SECONDS, wait_max=wait_max
    )
    for attempt in attempts:
        with attempt:
            summary = run()
    state.ran(summary)
    return summary


def _noting(state: CheckerState, say: Callable[[str], None]) -> Callable[[Exception], bool]:
    """stamina's `on`: count and report each retryable failure in one line; others end the checker."""

    def on(exc: Exception) -> bool:
        if not retryable(exc):
            return False
        state.failed()
        say(f"error: integrity checks did not run ({exc}); attempt {state.consecutive_failures} failed, retrying")
        return True

    return on


def stderr_line(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


__all__ = ["CheckerCollector", "CheckerState", "retryable", "run_round", "serve_metrics", "stderr_line"]
