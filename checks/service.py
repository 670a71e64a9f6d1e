"""`booking checker`: continuous integrity detection, an incremental pass every few seconds, a full sweep now and then.

Its own process (not a thread of the exporter: the exporter reads as booking_readonly, the checker
writes its findings), documented in docs/checker.md. Every `every` seconds it runs the incremental
rule pass (checks/checker.py) and the incremental chain verification (checks/chain.py); every
`full_every` seconds, and first of all when no full sweep was ever stored, the full sweep and the
full chain walk, on a thread of their own: the incremental passes go on while they run (a sweep
takes minutes on millions of bookings), but for the incremental chain pass, which the full walk
covers. A pass that fails (the database down, a statement timing out, anything) is one
line on stderr and one more in checker_state.errors (kept in memory while the database is away),
and the loop goes on: everything it needs to resume is in the database.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from checks.chain import chain_pass
from checks.checker import (
    Clock,
    PassBusy,
    PassReport,
    full_pass,
    incremental_pass,
    plain_url,
    record_errors,
    utc_now,
)

Say = Callable[[str], None]


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Checker:
    """The checker's loop and its passes; `stop` ends it between passes."""

    url: str
    every: float = 5.0
    full_every: float = 600.0
    clock: Clock = utc_now
    say: Say = stderr_line
    stop: threading.Event = field(default_factory=threading.Event)
    unrecorded_errors: dict[str, int] = field(default_factory=dict)
    last_errors: dict[str, str] = field(default_factory=dict)
    _errors_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_pass(self, mode: str, work: Callable[[], PassReport]) -> PassReport | None:
        """Run one pass; a failure is counted and said, never raised."""
        report: PassReport | None = None
        try:
            report = work()
        except PassBusy:  # the full walk is running: it verifies what this pass would
            return None
        except Exception as exc:  # one pass failing must never end the loop
            with self._errors_lock:
                self.unrecorded_errors[mode] = self.unrecorded_errors.get(mode, 0) + 1
                self.last_errors[mode] = _one_line(exc)
            self.say(f"checker: {mode} pass failed: {self.last_errors[mode]}")
        self._flush_errors()
        return report

    def tick(self, *, full: bool, chain_may_wait: bool = True) -> list[PassReport]:
        """One round: the full sweep and walk when `full`, else the incremental passes.

        With `chain_may_wait` false the incremental chain pass is skipped while a full walk runs.
        """
        if full:
            modes = [
                ("full", lambda: full_pass(self.url, clock=self.clock)),
                ("chain", lambda: chain_pass(self.url, clock=self.clock, full=True)),
            ]
        else:
            modes = [
                ("incremental", lambda: incremental_pass(self.url, clock=self.clock)),
                ("chain", lambda: chain_pass(self.url, clock=self.clock, wait=chain_may_wait)),
            ]
        return [r for mode, work in modes if (r := self.run_pass(mode, work)) is not None]

    def run(self) -> None:
        """Until `stop` is set: incremental rounds every `every` s, a full one every `full_every` s beside them."""
        next_full = 0.0 if self._never_swept() else time.monotonic() + self.full_every
        sweeping: threading.Thread | None = None
        failed = threading.Event()  # the last full round failed: try again at the next round
        while not self.stop.is_set():
            started = time.monotonic()
            if (sweeping is None or not sweeping.is_alive()) and (started >= next_full or failed.is_set()):
                failed.clear()
                sweeping = threading.Thread(target=self._full_round, args=(failed,), name="checker-full", daemon=True)
                sweeping.start()
                next_full = started + self.full_every
            self.tick(full=False, chain_may_wait=False)
            self.stop.wait(max(0.0, self.every - (time.monotonic() - started)))
        if sweeping is not None:
            sweeping.join()

    def _full_round(self, failed: threading.Event) -> None:
        if len(self.tick(full=True)) < len(("full", "chain")):
            failed.set()

    def _never_swept(self) -> bool:
        try:
            with psycopg.connect(plain_url(self.url), connect_timeout=5) as conn:
                row = conn.execute("SELECT last_pass_at FROM checker_state WHERE mode = 'full'").fetchone()
        except psycopg.Error:
            return True
        return row is None or row[0] is None

    def _flush_errors(self) -> None:
        """Store the failures counted while the database was away, once it answers."""
        with self._errors_lock:
            for mode, n in list(self.unrecorded_errors.items()):
                try:
                    record_errors(self.url, mode, n, self.last_errors[mode], self.clock())
                except psycopg.Error:
                    return
                del self.unrecorded_errors[mode]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
