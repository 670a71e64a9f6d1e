"""The dispatcher against a real local receiver: retries, timeouts, outages, circuit, dead letters."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from booking_core.notify import CircuitBreaker, CircuitState, Dispatcher, backoff_delay
from booking_core.notify.dispatcher import run_once_together
from tests.conftest import MONDAY
from tests.factories import Shop
from tests.notify.conftest import CLIENT_TIMEOUT, Clock, MakeDispatcher, NotifyDb, Receiver


def book_some(db: NotifyDb, n: int) -> set[str]:
    """n confirmed bookings; returns their notifications' delivery ids."""
    shop = Shop.create(db.system, now=MONDAY, capacity=100, customers=n)
    slot = shop.first_slot()
    for i in range(n):
        shop.book(slot, party=1, customer=i)
    return {str(r[0]) for r in db.rows("SELECT delivery_id FROM notification_outbox")}


def failing(
    db: NotifyDb, receiver: Receiver, make_dispatcher: MakeDispatcher, messages: int, **settings: object
) -> tuple[set[str], Dispatcher]:
    """`messages` bookings' events in the outbox, a dispatcher with `settings`, and a receiver that answers 500."""
    ids = book_some(db, messages)
    dispatcher = make_dispatcher(**settings)
    receiver.mode = "fail"
    return ids, dispatcher


def drain(dispatcher: Dispatcher, clock: Clock, *, step: timedelta, rounds: int = 200) -> None:
    for _ in range(rounds):
        dispatcher.run_once()
        if not pending(dispatcher):
            return
        clock.now += step
    raise AssertionError("the outbox did not drain")


def pending(dispatcher: Dispatcher) -> int:
    from sqlalchemy import text

    with dispatcher.db.connect() as conn:
        sql = "SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL AND dead_at IS NULL"
        return int(conn.execute(text(sql)).scalar_one())


def assert_log_matches_attempts(db: NotifyDb) -> None:
    """Every attempt is in the delivery log: attempts = logged rows, numbered 1..n, for every message."""
    rows = db.rows("""
        SELECT o.attempts, count(d.*), coalesce(max(d.attempt), 0) FROM notification_outbox o
          LEFT JOIN notification_deliveries d ON d.business_id = o.business_id AND d.outbox_id = o.id
         GROUP BY o.business_id, o.id, o.attempts""")
    assert all(a == n == top for a, n, top in rows), rows


def test_every_event_arrives_exactly_once_after_the_receiver_fails_times_out_and_recovers(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    ids, dispatcher = failing(notify_db, receiver, make_dispatcher, 6)
    dispatcher.run_once()
    receiver.mode = "slow"  # the receiver takes the message but answers too late: the sender must retry
    clock.advance(minutes=2)
    dispatcher.run_once()
    receiver.mode = "ok"
    drain(dispatcher, clock, step=timedelta(minutes=2))

    assert set(receiver.processed) == ids
    assert receiver.duplicates() > 0  # the same delivery id really came twice; the receiver kept it once
    assert receiver.mismatched == [] and receiver.resent_after_success() == 0
    assert_log_matches_attempts(notify_db)
    outcomes = {r[0] for r in notify_db.rows("SELECT error FROM notification_deliveries WHERE error IS NOT NULL")}
    assert {"HTTP 500", f"timed out after {CLIENT_TIMEOUT:g}s"} <= outcomes


def test_nothing_is_lost_while_the_receiver_is_down_for_hours(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    ids, dispatcher = failing(notify_db, receiver, make_dispatcher, 8, max_attempts=12)
    for _ in range(6 * 12):  # six hours in five-minute steps
        dispatcher.run_once()
        clock.advance(minutes=5)
    assert receiver.processed == {} and pending(dispatcher) == 8
    # The open circuit lets about one probe through per max_cool_down, not one per message per retry.
    assert len(receiver.raw) <= 3 + 6 * 4 + 2
    assert notify_db.rows("SELECT count(*) FROM notification_outbox WHERE dead_at IS NOT NULL") == [(0,)]

    receiver.mode = "ok"
    drain(dispatcher, clock, step=timedelta(minutes=5))
    assert set(receiver.processed) == ids and receiver.resent_after_success() == 0
    assert_log_matches_attempts(notify_db)


def test_the_circuit_opens_after_consecutive_failures_and_half_opens_for_one_probe(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    _, dispatcher = failing(notify_db, receiver, make_dispatcher, 5, failure_threshold=3, batch_size=5)
    report = dispatcher.run_once()
    assert (len(receiver.raw), report.circuit, report.released) == (3, CircuitState.OPEN, 2)
    assert notify_db.rows("SELECT state, consecutive_failures FROM notification_circuit") == [("open", 3)]
    # Failed messages are due again later (backoff), the released ones at once.
    later = notify_db.rows("SELECT count(*) FROM notification_outbox WHERE available_at > %s", clock.now)
    assert later == [(3,)]

    dispatcher.run_once()
    assert len(receiver.raw) == 3  # open: nothing is sent

    clock.advance(seconds=30)
    assert dispatcher.run_once().circuit is CircuitState.OPEN
    assert len(receiver.raw) == 4  # half-open: exactly one probe, which failed
    assert dispatcher.breaker.retry_at == clock.now + timedelta(seconds=60)  # the cool-down doubled

    receiver.mode = "ok"
    clock.advance(seconds=60)
    report = dispatcher.run_once()
    assert report.circuit is CircuitState.CLOSED and report.delivered >= 1
    assert notify_db.rows("SELECT state FROM notification_circuit") == [("closed",)]


def test_a_restarted_dispatcher_resumes_an_open_circuit(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    book_some(notify_db, 3)
    receiver.mode = "fail"
    make_dispatcher().run_once()
    again = make_dispatcher()
    assert again.breaker.state is CircuitState.OPEN
    again.run_once()
    assert len(receiver.raw) == 3


def test_a_message_that_keeps_failing_is_dead_lettered_and_kept(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    _, dispatcher = failing(notify_db, receiver, make_dispatcher, 1, max_attempts=3, failure_threshold=100)
    for _ in range(6):
        dispatcher.run_once()
        clock.advance(minutes=10)
    assert len(receiver.raw) == 3
    [(dead_at, attempts, error)] = notify_db.rows("SELECT dead_at, attempts, last_error FROM notification_outbox")
    assert dead_at is not None and (attempts, error) == (3, "HTTP 500")
    assert [r[0] for r in notify_db.rows("SELECT outcome FROM notification_deliveries ORDER BY attempt")] == [
        "retry", "retry", "dead"]  # fmt: skip

    receiver.mode = "ok"
    clock.advance(hours=1)
    dispatcher.run_once()
    assert receiver.processed == {}  # dead is final: kept for inspection, never resent on its own


def test_a_message_older_than_the_max_age_dies_on_its_next_failure(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    book_some(notify_db, 1)
    clock.advance(hours=2)
    receiver.mode = "fail"
    make_dispatcher(max_age=timedelta(hours=1)).run_once()
    assert notify_db.rows("SELECT attempts, dead_at IS NOT NULL FROM notification_outbox") == [(1, True)]


def test_backoff_grows_exponentially_with_full_jitter_and_a_seeded_rng_repeats() -> None:
    delays = [backoff_delay(n, base=2.0, cap=60.0, rng=random.Random(1)) for n in range(1, 10)]
    assert delays == [backoff_delay(n, base=2.0, cap=60.0, rng=random.Random(1)) for n in range(1, 10)]
    assert all(0 <= d <= min(60.0, 2.0 * 2 ** (n - 1)) for n, d in enumerate(delays, start=1))
    spread = {round(backoff_delay(8, base=2.0, cap=60.0, rng=random.Random(s)), 3) for s in range(20)}
    assert len(spread) == 20 and max(spread) <= 60.0


def test_the_circuit_breaker_walks_closed_open_half_open_closed() -> None:
    t0 = MONDAY
    breaker = CircuitBreaker(failure_threshold=2, cool_down=timedelta(seconds=10))
    assert breaker.allowance(t0) is None
    breaker.record_failure(t0)
    breaker.record_failure(t0)
    assert (breaker.state, breaker.allowance(t0 + timedelta(seconds=9))) == (CircuitState.OPEN, 0)
    assert (breaker.allowance(t0 + timedelta(seconds=10)), breaker.state) == (1, CircuitState.HALF_OPEN)
    breaker.record_success()
    assert (breaker.state, breaker.consecutive_failures) == (CircuitState.CLOSED, 0)


def test_two_dispatchers_running_at_once_send_each_message_once(
    notify_db: NotifyDb, receiver: Receiver, make_dispatcher: MakeDispatcher
) -> None:
    ids = book_some(notify_db, 30)
    first, second = make_dispatcher(batch_size=3), make_dispatcher(batch_size=3)
    running = [d.start_in_thread(interval_seconds=0.02) for d in (first, second)]
    for _ in range(3000):  # a bound, not a timing: wait for the drain
        if not pending(first):
            break
        threading.Event().wait(0.02)
    for thread, stop in running:
        stop.set()
        thread.join(timeout=30)
    errors = notify_db.rows("SELECT error FROM notification_deliveries WHERE error IS NOT NULL")
    assert set(receiver.processed) == ids
    assert len(receiver.raw) == len(ids), (errors, receiver.duplicates())  # SKIP LOCKED: none claimed by both
    assert notify_db.rows("SELECT DISTINCT attempts FROM notification_outbox") == [(1,)]


def test_workers_share_one_circuit_and_send_a_single_probe_when_half_open(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    ids = book_some(notify_db, 12)
    workers = make_dispatcher(failure_threshold=3, batch_size=2).workers(3)
    assert len({id(w.breaker) for w in workers}) == 1
    receiver.mode = "fail"
    assert run_once_together(workers).circuit is CircuitState.OPEN
    opened_after = len(receiver.raw)
    assert 3 <= opened_after <= 3 + 2  # each other worker may finish the message it had in flight

    clock.advance(seconds=30)
    run_once_together(workers)
    assert len(receiver.raw) == opened_after + 1  # half-open: one probe across all workers

    receiver.mode = "ok"
    clock.advance(minutes=1)
    report = run_once_together(workers)
    assert report.circuit is CircuitState.CLOSED and set(receiver.processed) == ids
    for w in workers[1:]:
        w.close()
    assert_log_matches_attempts(notify_db)


def test_a_half_open_probe_that_found_nothing_due_is_handed_back() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cool_down=timedelta(seconds=1))
    breaker.record_failure(MONDAY)
    later = MONDAY + timedelta(seconds=1)
    assert (breaker.allowance(later), breaker.allowance(later)) == (1, 0)
    breaker.return_probe()
    assert breaker.allowance(later) == 1
