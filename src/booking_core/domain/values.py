"""Value types shared by every layer: ids, actors, money, aware instants."""

from __future__ import annotations

import enum
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from booking_core.domain.errors import (
    CurrencyMismatch,
    InvalidInput,
    NaiveDatetime,
    UnknownTimezone,
)


def new_id() -> uuid.UUID:
    """A UUIDv7: random enough to be unguessable, time-ordered so tables can be range-partitioned."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


class ActorType(enum.StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"
    SYSTEM = "system"


class Channel(enum.StrEnum):
    API = "api"
    UI = "ui"
    CLI = "cli"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and how it reaches us; recorded with every audit row."""

    type: ActorType
    id: str
    channel: Channel = Channel.API
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def customer(cls, customer_id: uuid.UUID | str, *, channel: Channel = Channel.API) -> Actor:
        return cls(ActorType.CUSTOMER, str(customer_id), channel)

    @classmethod
    def admin(cls, admin_id: str, *, channel: Channel = Channel.UI) -> Actor:
        return cls(ActorType.ADMIN, admin_id, channel)

    @classmethod
    def system(cls, name: str, *, channel: Channel = Channel.BATCH) -> Actor:
        return cls(ActorType.SYSTEM, name, channel)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency; two places, banker's rounding."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        try:
            amount = Decimal(self.amount).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise InvalidInput(f"{self.amount!r} is not an amount: pass a decimal like '12.50'") from exc
        if not amount.is_finite() or amount < 0:
            raise InvalidInput(f"amount {self.amount} must be zero or positive")
        if not (isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isupper()):
            raise InvalidInput(f"currency {self.currency!r} must be a three-letter ISO code like EUR")
        object.__setattr__(self, "amount", amount)

    def same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"amount in {other.currency} where {self.currency} is expected: convert it first")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def require_aware(value: datetime, name: str = "time") -> datetime:
    """Refuse naive datetimes: they would be read in whatever zone the server runs in."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(f"{name} {value.isoformat()} has no timezone: pass an aware datetime")
    return value


# IANA zones (with summer time) whose names PostgreSQL's `AT TIME ZONE` reads as its own
# fixed-offset abbreviations: SQL and Python would disagree on every summer slot, so they are
# refused here and by booking_is_valid_timezone() in the schema.
READ_AS_ABBREVIATIONS = frozenset({"CET", "EET", "MET", "WET"})


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or UnknownTimezone."""
    if not isinstance(name, str) or name not in _zone_names():
        raise UnknownTimezone(f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin")
    if name in READ_AS_ABBREVIATIONS:
        raise UnknownTimezone(
            f"timezone {name!r} is read by PostgreSQL as a fixed offset without summer time:"
            " use a city zone such as Europe/Paris or Europe/Athens"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - guarded above
        raise UnknownTimezone(f"unknown timezone {name!r}: use an IANA name") from exc


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


DAY = timedelta(days=1)
