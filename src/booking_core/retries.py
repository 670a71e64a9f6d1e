"""The public API's fault boundary: nothing untyped leaves it, and what may be resent is resent.

`call()` runs every use case of the facade (booking_core.services.usecase.UseCase) so that:

- any psycopg or SQLAlchemy error that escaped a lower layer is translated into the typed
  booking_core error (booking_core.adapters.errors.translate), so a caller only ever sees the
  booking_core tree;
- a `retryable` error (Busy, or DatabaseUnavailable for a lost connection or a restarting
  server) is retried with bounded, jittered exponential backoff (stamina) — but only for an
  idempotent call: a read, or a write that carries an idempotency key (replaying it returns the
  first result). A write without a key is never resent: its reply may be what was lost.

The first attempt runs as a plain call inside one try block: a call that does not fail costs
what it cost before. Turn retries off with `connect(..., retries=False)` or
`BookingSystem(db, retries=False)`; tune them with a RetryPolicy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import stamina

from booking_core.adapters.errors import DatabaseException, translate
from booking_core.domain.errors import BookingError

T = TypeVar("T")

# stamina logs each scheduled retry at WARNING on the "stamina" logger. An application that
# configures logging sees them; one that does not gets no "stamina.retry_scheduled" lines on
# stderr from Python's last-resort handler (a CLI prints one line per error, nothing more).
logging.getLogger("stamina").addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long an idempotent call is retried (stamina's backoff parameters).

    The defaults ride out a lost connection (retried at once on a fresh one), a lock timeout
    and a server restart of a few seconds; a call gives up after `attempts` tries or `timeout`
    seconds, whichever comes first, raising the last typed error.
    """

    attempts: int = 6
    timeout: float = 15.0
    wait_initial: float = 0.05
    wait_max: float = 2.0
    wait_jitter: float = 0.25
    wait_exp_base: float = 2.0


DEFAULT_POLICY = RetryPolicy()


def policy_of(retries: bool | RetryPolicy) -> RetryPolicy | None:
    """`True` for the default policy, `False` for none, or a policy of one's own."""
    if isinstance(retries, RetryPolicy):
        return retries
    return DEFAULT_POLICY if retries else None


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, BookingError) and exc.retryable


def _once(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    except DatabaseException as exc:
        raise translate(exc) from exc


def call(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    policy: RetryPolicy | None,
    idempotent: bool,
) -> T:
    """Run fn once; on a retryable error of an idempotent call, retry under the policy."""
    try:
        return fn(*args, **kwargs)
    except BookingError as exc:
        if policy is None or not idempotent or not exc.retryable:
            raise
    except DatabaseException as exc:
        typed = translate(exc)
        if policy is None or not idempotent or not typed.retryable:
            raise typed from exc
    assert policy is not None
    # The first retry runs at once (a lost connection was discarded: a fresh one is likely to
    # work), then the waits grow from wait_initial.
    retries = stamina.retry_context(
        on=_retryable,
        attempts=max(policy.attempts - 1, 1),
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
        wait_exp_base=policy.wait_exp_base,
    )
    for attempt in retries:
        with attempt:
            return _once(fn, args, kwargs)
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover
