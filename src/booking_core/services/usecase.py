"""One declaration per use case on the facade: a call builds the use case's request and runs its handler.

`book = UseCase(BookingRequest, bookings.book)` in BookingSystem makes `system.book(business_id,
slot_id=..., ...)` take exactly the fields of BookingRequest (mypy checks the call against them,
through the ParamSpec of the dataclass's constructor), build that request, and run
`bookings.book(Context(db, now), request)` under the fault boundary (booking_core.retries):
only booking_core errors leave it, and a retryable error is retried when the call is
idempotent, that is a read (`read=True`) or a write whose request carries an idempotency key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from booking_core.adapters.db import Database
from booking_core.retries import RetryPolicy, call
from booking_core.services.context import Clock, Context

P = ParamSpec("P")
Q = TypeVar("Q")
R = TypeVar("R")


class System(Protocol):
    """What a use case needs from the object it is reached through."""

    db: Database
    clock: Clock
    retry_policy: RetryPolicy | None


class UseCase(Generic[P, Q, R]):
    """A descriptor: on an instance, a function with the request's signature that runs the handler."""

    __slots__ = ("handler", "name", "read", "request", "signature")

    def __init__(self, request: Callable[P, Q], handler: Callable[[Context, Q], R], *, read: bool = False) -> None:
        self.request = request
        self.handler = handler
        self.read = read
        self.name = handler.__name__
        self.signature = inspect.signature(request)  # for help() and editors; computed once

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, system: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, system: System, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, system: System | None, owner: type | None = None) -> Self | Callable[P, R]:
        if system is None:
            return self

        def use_case(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.run(system, self.request(*args, **kwargs))

        use_case.__name__ = use_case.__qualname__ = self.name
        use_case.__doc__ = self.handler.__doc__
        use_case.__signature__ = self.signature  # type: ignore[attr-defined]
        # Bound once per system: later lookups find the instance attribute, not this descriptor
        # (the hot path pays for building the request, not for building the function).
        vars(system)[self.name] = use_case
        return use_case

    def run(self, system: System, request: Q) -> R:
        """Run the handler on a built request: once, or under the system's retry policy when idempotent."""
        idempotent = self.read or getattr(request, "idempotency_key", None) is not None
        return call(self._attempt, (system, request), {}, policy=system.retry_policy, idempotent=idempotent)

    def _attempt(self, system: System, request: Q) -> R:
        now: Any = getattr(request, "now", None)
        return self.handler(Context(system.db, now=now, clock=system.clock), request)
