"""`booking checker`: continuous integrity detection, an incremental pass every few seconds, a full sweep now and then.

Its own process (not a thread of the exporter: the exporter reads as booking_readonly, the checker
writes its findings), documented in docs/checker.md. Every `every` seconds it runs the incremental
rule pass (checks/checker.py) and the incremental chain verification (checks/chain.py); every
`full_every` seconds, and first of all when no full sweep was ever stored, the full sweep and the
full chain walk. The rule passes, the sweep, the chain passes and the walk each loop on a thread
of their own: on millions of bookings a sweep or a walk takes minutes, and the incremental passes
go on every few seconds meanwhile (a sweep and a walk read without the lock and apply under it).
A pass that fails (the database down, a statement timing out, anything) is one line on stderr and
one more in checker_state.errors (kept in memory while the database is away), and the loop goes on:
everything it needs to resume is in the database.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from checks.chain import chain_pass
from checks.checker import Clock, PassReport, full_pass, incremental_pass, plain_url, record_errors, utc_now

Say = Callable[[str], None]
Pass = Callable[..., PassReport]  # pass(url, clock=...)


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
    # Runs in the full walk between its snapshot and its apply (tests hold a walk open there).
    before_walk_applies: Callable[[], object] | None = None

    def run_pass(self, mode: str, work: Callable[[], PassReport]) -> PassReport | None:
        """Run one pass; a failure is counted and said, never raised."""
        report: PassReport | None = None
        try:
            report = work()
        except Exception as exc:  # one pass failing must never end the loop
            with self._errors_lock:
                self.unrecorded_errors[mode] = self.unrecorded_errors.get(mode, 0) + 1
                self.last_errors[mode] = _one_line(exc)
            self.say(f"checker: {mode} pass failed: {self.last_errors[mode]}")
        self._flush_errors()
        return report

    def tick(self, *, full: bool) -> list[PassReport]:
        """One round, passes one after the other: the full sweep and walk when `full`, else the incremental passes."""
        if full:
            modes = [
                ("full", lambda: full_pass(self.url, clock=self.clock)),
                ("chain", lambda: chain_pass(self.url, clock=self.clock, full=True)),
            ]
        else:
            modes = [
                ("incremental", lambda: incremental_pass(self.url, clock=self.clock)),
                ("chain", lambda: chain_pass(self.url, clock=self.clock)),
            ]
        return [r for mode, work in modes if (r := self.run_pass(mode, work)) is not None]

    def run(self) -> None:
        """Until `stop` is set, four loops on threads of their own, so a slow one never holds up another.

        rules: the incremental rule pass every `every` s. sweep: the full sweep every `full_every` s
        (at once when none was ever stored). chain: the chain pass every `every` s (a first pass,
        with no verified head yet, walks everything: that is the first walk). walk: the full chain
        walk every `full_every` s, the first after `full_every` s (at once it would walk beside
        the first chain pass, doing the same work twice on a cold start). A sweep or a walk reads in a snapshot of its
        own and takes the lock only to apply what it found, so the passes every few seconds go on.
        """
        never = self._never_swept()

        def loop(
            name: str, seconds: float, mode: str, work: Callable[..., PassReport], at_once: bool
        ) -> threading.Thread:
            def once() -> bool:
                return self.run_pass(mode, lambda: work(self.url, clock=self.clock)) is not None

            return threading.Thread(target=self._every, args=(seconds, once, at_once), name=f"checker-{name}")

        loops = [
            loop("rules", self.every, "incremental", incremental_pass, True),
            loop("sweep", self.full_every, "full", full_pass, never),
            loop("chain", self.every, "chain", chain_pass, True),
            loop("walk", self.full_every, "chain", self._walk, False),
        ]
        for thread in loops:
            thread.start()
        for thread in loops:
            thread.join()

    def _walk(self, url: str, *, clock: Clock) -> PassReport:
        return chain_pass(url, clock=clock, full=True, before_apply=self.before_walk_applies)

    def _every(self, seconds: float, work: Callable[[], bool], first_now: bool) -> None:
        """Run `work` every `seconds` until `stop`; a failed run is tried again after `every` s."""
        wait = 0.0 if first_now else seconds
        while not self.stop.wait(wait):
            started = time.monotonic()
            ok = work()
            wait = max(0.0, (seconds if ok else self.every) - (time.monotonic() - started))

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
