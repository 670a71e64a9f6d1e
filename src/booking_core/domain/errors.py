"""The one exception tree of booking_core; every error a user can cause is one of these.

BookingError                       base: a one-line message that says what to do; `retryable` says
│                                  whether the same request may succeed if simply sent again
├── InvalidInput                   a value is malformed or out of range
│   ├── InvalidPartySize           party size 0, negative or absurd
│   ├── NaiveDatetime              a datetime without a timezone
│   ├── UnknownTimezone            not an IANA timezone name
│   ├── CurrencyMismatch           money in a currency other than the booking's
│   └── InvalidPromoCode           a promo code that does not exist, is not valid now, or is used up
├── NotFound                       an id that does not exist (in this business)
│   ├── UnknownSlot
│   ├── UnknownBooking
│   ├── UnknownPayment
│   ├── UnknownResource
│   ├── UnknownWaitlistEntry
│   └── UnknownCustomer
├── Unavailable                    the slot (or the business) cannot take this change now
│   ├── CapacityExceeded           not enough free seats
│   ├── LegacySlot                 the slot left the schedule: no new bookings
│   ├── ResourcesUnavailable       a multi-resource booking lacks some resources (`missing`)
│   ├── SeriesUnavailable          occurrences of an all-or-nothing series that cannot be booked
│   └── BusinessFrozen             ops froze the business's writes during an incident
├── Conflict                       the request clashes with the current state
│   ├── AlreadyExists              a name, code or queue place that is already taken
│   │   └── AlreadyOnWaitlist      the customer already has a live entry for this slot
│   ├── IllegalTransition          an edge the state machine does not have
│   ├── StaleVersion               optimistic lock: someone changed it first
│   ├── IdempotencyConflict        a reused key for a different request
│   ├── RefundExceedsPayment       more refunded than was paid
│   ├── NothingToChange            the booking is already so: nothing written
│   ├── PaymentRequired            the change costs more than has been paid
│   ├── OfferExpired               a waitlist offer past its time or no longer open
│   ├── OfferAlreadyAccepted       someone else already accepted this waitlist offer
│   ├── ErasureRefused             the customer holds a paid booking ahead: cancel it, or force
│   └── Busy                       retryable: a lock wait or statement timed out, a deadlock or
│                                  serialization failure was resolved against this request;
│                                  nothing was changed (`sqlstate` 55P03, 57014, 40P01, 40001)
├── NotAllowed                     the actor may not do this
│   ├── ActorNotAllowed            e.g. a system actor cancelling a booking
│   └── NotOwner                   a customer acting on another customer's booking, entry or series
│       └── WrongToken             cancellation token does not match
├── IntegrityRefused               the database refused a write that would break an invariant
└── DatabaseUnavailable            the database cannot be reached, or is not migrated; retryable
                                   when the connection was lost or the server is (re)starting
                                   (57P01/57P02/57P03, 08xxx, a killed backend), not when the
                                   schema or the configuration is wrong

Every class carries `retryable` (may the very same request succeed if simply sent again?) and
`sqlstate` (the database's SQLSTATE, when the error came from the database; also in `context`).
Nothing else leaves a public entry point: driver and SQLAlchemy errors are translated by
`booking_core.adapters.errors.translate()`. A `retryable` error of a write says nothing was
committed, except a lost connection, where the reply may be what was lost: resend such a write
only with its idempotency key (BookingSystem does so itself for reads and keyed writes).
"""

from __future__ import annotations

from typing import Self


class BookingError(Exception):
    """Base of every error a caller can cause; str() is one line that says what to do."""

    #: True when sending the very same request again may succeed (a class default; an
    #: instance may say otherwise, e.g. a DatabaseUnavailable for a lost connection).
    retryable: bool = False

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        sqlstate = context.get("sqlstate")
        #: The database's SQLSTATE when the error came from the database, else None.
        self.sqlstate: str | None = sqlstate if isinstance(sqlstate, str) else None

    def __str__(self) -> str:
        return self.message.splitlines()[0] if self.message else type(self).__name__


class InvalidInput(BookingError):
    """A value is malformed or out of range."""


class InvalidPartySize(InvalidInput):
    """Party size is below 1 or above what any slot could take."""


class NaiveDatetime(InvalidInput):
    """A datetime without tzinfo, which would be read in an unknown zone."""


class UnknownTimezone(InvalidInput):
    """A timezone name that is not in the IANA database."""


class CurrencyMismatch(InvalidInput):
    """An amount in a different currency than the booking or payment it belongs to."""


class NotFound(BookingError):
    """An id that does not exist in this business."""

    #: The message for_id() gives, `{}` standing for the id.
    missing = "{} does not exist in this business"

    @classmethod
    def for_id(cls, record_id: object) -> Self:
        """The error for an id that is not there, in this class's one message."""
        return cls(cls.missing.format(record_id))


class UnknownSlot(NotFound):
    """The slot id does not exist in this business."""

    missing = "slot {} does not exist in this business: list its slots"


class UnknownBooking(NotFound):
    """The booking id does not exist in this business."""

    missing = "booking {} does not exist in this business: check the id"


class UnknownPayment(NotFound):
    """The payment id does not exist in this business."""


class Unavailable(BookingError):
    """The slot cannot take the requested seats."""


class CapacityExceeded(Unavailable):
    """Not enough free seats in the slot for the party."""


class LegacySlot(Unavailable):
    """The slot left the schedule; it serves its bookings but takes no new ones."""


class Conflict(BookingError):
    """The request clashes with the current state."""


class AlreadyExists(Conflict):
    """A name, code or queue place that is already taken in this business; retrying will not help."""


class IllegalTransition(Conflict):
    """A status change along an edge the state machine does not have."""


class StaleVersion(Conflict):
    """The booking changed since the caller read it (optimistic locking)."""


class IdempotencyConflict(Conflict):
    """An idempotency key already used for a different request."""


class RefundExceedsPayment(Conflict):
    """A refund larger than what is still refundable on the payment."""


class NothingToChange(Conflict):
    """The booking already is what the request asks for; nothing was written (no version, no audit row)."""


class PaymentRequired(Conflict):
    """The change raises what a pay-now booking costs above what it has received."""


class NotAllowed(BookingError):
    """The actor is not allowed to do this."""


class ActorNotAllowed(NotAllowed):
    """This kind of actor may not make this change (e.g. system cancelling a booking)."""


class NotOwner(NotAllowed):
    """A customer acting on what belongs to another customer (domain/ownership.py: the one rule)."""


class WrongToken(NotOwner):
    """The cancellation token does not match the booking."""


class IntegrityRefused(BookingError):
    """The database refused a write that would break an invariant."""


class DatabaseUnavailable(BookingError):
    """The database cannot be reached, or its schema is not migrated.

    `retryable` is True when the connection was lost or the server is shutting down or starting
    up (try again in a moment), False when the configuration or the schema is wrong.
    """

    def __init__(self, message: str, *, retryable: bool = False, **context: object) -> None:
        super().__init__(message, **context)
        self.retryable = retryable


class InvalidPromoCode(InvalidInput):
    """A promo code that does not exist, is not valid now, or is used up."""


class UnknownResource(NotFound):
    """A resource id that does not exist in this business."""


class UnknownWaitlistEntry(NotFound):
    """A waitlist entry id that does not exist in this business."""

    missing = "waitlist entry {} does not exist in this business"


class ResourcesUnavailable(Unavailable):
    """Some resources of a multi-resource booking lack capacity; `missing` says which and by how much."""

    def __init__(self, message: str, *, missing: list[dict[str, object]], **context: object) -> None:
        super().__init__(message, missing=missing, **context)
        self.missing = missing


class SeriesUnavailable(Unavailable):
    """Occurrences of an all-or-nothing series that cannot be booked; `failures` lists them."""

    def __init__(self, message: str, *, failures: list[tuple[int, str]]) -> None:
        super().__init__(message, failures=failures)
        self.failures = failures


class OfferExpired(Conflict):
    """A waitlist offer past its expiry, or no longer open: rejoin the waitlist."""


class OfferAlreadyAccepted(Conflict):
    """The waitlist offer was already accepted by someone else; its booking is not yours to take."""


class AlreadyOnWaitlist(AlreadyExists):
    """The customer already has a live (waiting or offered) entry for this slot; `entry_id` names it."""


class BusinessFrozen(Unavailable):
    """Ops froze the business's writes during an incident (`booking freeze`); wait for `booking unfreeze`."""


class Busy(Conflict):
    """Lost a race for a lock (timeout, deadlock, serialization failure, statement timeout): try again.

    Nothing was changed. `sqlstate` says which: 55P03 lock timeout, 40P01 deadlock, 40001
    serialization failure, 57014 statement timeout.
    """

    retryable = True


class UnknownCustomer(NotFound):
    """No such customer in this business (by id, e-mail address or cancellation token)."""


class ErasureRefused(Conflict):
    """The customer holds a paid booking ahead: cancel it first (refunded by the policy), or force."""
