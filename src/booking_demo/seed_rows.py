"""The rows of a bulk seed, drawn in Python from the demo's distributions (no database here).

For each slot, bookings with party sizes, lead times, and a life: created, paid (or not),
cancelled, checked in, completed or a no-show, refunded in full or in part. Each booking
yields its final row plus every transition, payment, refund and payment event, so the
loader can write them all and the result reads exactly like the trigger path's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from booking_core.domain.lifecycle import SEAT_HOLDING, PaymentStatus
from booking_core.domain.money import CancellationPolicy, payment_status
from booking_core.domain.values import ActorType, new_id
from booking_demo import profiles as pf

MINUTE = timedelta(minutes=1)
CENT = Decimal("0.01")
POLICY = CancellationPolicy()  # a new business's default, which the seeded businesses keep


@dataclass(frozen=True, slots=True)
class SlotRow:
    id: uuid.UUID
    service_id: uuid.UUID
    capacity: int
    starts_at: datetime
    ends_at: datetime
    local_start: time
    month: int


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    price: Decimal
    pay_now: bool
    max_party: int


@dataclass
class Rows:
    """Everything one business's bookings write, in COPY-ready tuples."""

    bookings: list[tuple[object, ...]] = field(default_factory=list)
    transitions: list[tuple[object, ...]] = field(default_factory=list)
    payments: list[list[object]] = field(default_factory=list)  # lists: a refund updates them
    payment_events: list[tuple[object, ...]] = field(default_factory=list)
    refunds: list[tuple[object, ...]] = field(default_factory=list)


@dataclass
class Draw:
    """One business's generator: its profile, RNG, customers, and the anchor."""

    profile: pf.Profile
    business_id: uuid.UUID
    currency: str
    services: dict[uuid.UUID, ServiceInfo]
    customers: list[uuid.UUID]
    anchor: datetime
    setup_at: datetime
    rng: random.Random
    rows: Rows = field(default_factory=Rows)
    _cum: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cum = pf.customer_weights(len(self.customers))

    def slot_weights(self, slots: list[SlotRow]) -> list[float]:
        """Demand by season and hour, times seats: a bigger table or class draws more bookings."""
        demand = {o.start: o.demand for o in self.profile.openings}
        season = self.profile.season
        return [season[s.month - 1] * demand.get(s.local_start, 1.0) * s.capacity for s in slots]

    def fill(self, slots: list[SlotRow], total: int, flush: Callable[[Rows], None], *, every: int = 50_000) -> None:
        """Spread `total` bookings over the slots by seasonal demand and live each one; hand the rows
        to `flush` every `every` bookings, so memory stays bounded whatever the total."""
        for slot, quota in zip(slots, quotas(self.slot_weights(slots), total), strict=True):
            seats = slot.capacity
            for _ in range(quota):
                seats -= self.booking(slot, seats)
            if len(self.rows.bookings) >= every:
                flush(self.rows)
                self.rows = Rows()
        flush(self.rows)
        self.rows = Rows()

    def booking(self, slot: SlotRow, seats_left: int) -> int:
        """One booking on `slot`; returns the seats it holds at the end."""
        rng, b = self.rng, self.profile.behaviour
        svc = self.services[slot.service_id]
        party = pf.party_size(rng, self.profile) if svc.max_party > 1 else 1
        created = min(slot.starts_at - pf.lead_time(rng, b), self.anchor - timedelta(minutes=rng.uniform(5, 600)))
        created = max(created, self.setup_at + MINUTE)
        past = slot.ends_at < self.anchor
        r = rng.random()
        if r < b.cancel or seats_left < 1:
            outcome = "cancelled"
        elif not past:
            outcome = "draft" if svc.pay_now and r > 1 - 0.03 else "confirmed"
        else:
            outcome = "no_show" if rng.random() < b.no_show else "completed"
        party = min(party, max(seats_left, 1))
        bid = new_id()
        life = Life(self, bid, slot, svc, party, created)
        status, pay_status = life.run(outcome)
        self.rows.bookings.append(
            (
                self.business_id,
                bid,
                slot.id,
                self.pick_customer(),
                party,
                status,
                "pay_now" if svc.pay_now else "pay_on_arrival",
                pay_status,
                life.amount,
                self.currency,
                life.version,
                created,
                life.last,
                life.received,
                life.returned,
                life.fee,
            )
        )
        return party if status in SEAT_HOLDING else 0

    def pick_customer(self) -> uuid.UUID:
        return self.rng.choices(self.customers, cum_weights=self._cum)[0]


class Life:
    """The steps of one booking, appended to the business's rows as it goes."""

    def __init__(
        self, draw: Draw, bid: uuid.UUID, slot: SlotRow, svc: ServiceInfo, party: int, created: datetime
    ) -> None:
        self.d, self.bid, self.slot, self.svc = draw, bid, slot, svc
        self.amount = (svc.price * party).quantize(CENT)
        self.now = created
        self.last = created
        self.version = 1
        self.status = ""
        self.paid: list[list[object]] = []  # [payment_id, refunded] of paid payments
        self.statuses: list[str] = []  # every payment's final status
        self.received = Decimal(0)  # the booking's derived money, as the triggers keep it
        self.returned = Decimal(0)
        self.fee: Decimal | None = None

    def step(self, to: str, actor: tuple[str, str, str], reason: str | None, at: datetime) -> None:
        frm = self.status or None
        if to == "cancelled":
            self.fee = POLICY.fee(
                self.amount, actor=ActorType(actor[0]), cancelled_at=at, starts_at=self.slot.starts_at
            )
        self.d.rows.transitions.append((self.d.business_id, self.bid, frm, to, reason, *actor, at))
        self.status, self.last = to, at
        self.version += frm is not None

    def run(self, outcome: str) -> tuple[str, str]:
        rng, b, d = self.d.rng, self.d.profile.behaviour, self.d
        customer = ("customer", "seed-customer", "api")
        staff = ("admin", d.profile.staff, "ui")
        system = ("system", "payments-provider", "batch")
        starts = self.slot.starts_at
        self.step("draft" if self.svc.pay_now else "confirmed", customer, None, self.now)
        if self.svc.pay_now:
            if outcome == "draft":
                self.payment(self.now + MINUTE, "pending", customer)
                return self.finish()
            ok = self.pay(self.now + MINUTE, customer)
            if not ok:
                self.step("cancelled", customer, "payment did not go through", self.now + 30 * MINUTE)
                return self.finish()
            self.step("confirmed", system, "payment confirmed", self.now + 2 * MINUTE)
        if outcome == "cancelled":
            at = self.now + (starts - self.now) * rng.betavariate(2.0, 1.2)
            at = min(at, starts - 5 * MINUTE, d.anchor - MINUTE)
            by_admin = rng.random() < b.admin_cancel_share
            why = rng.choice(b.admin_reasons if by_admin else b.customer_reasons)
            self.step("cancelled", staff if by_admin else customer, why, max(at, self.last + MINUTE))
            if self.paid and self.fee is not None and self.amount > self.fee:
                # Exactly what the policy owes back (refund_due), and the booking is settled.
                kept = "cancelled in time: full refund" if self.fee == 0 else "late cancellation: fee kept"
                self.refund(self.amount - self.fee, kept, self.last + MINUTE, staff)
                self.step("refunded", staff, "refund due paid", self.last)
        elif outcome == "no_show":
            self.step("no_show", staff, "no show", starts + 30 * MINUTE)
        elif outcome == "completed":
            self.step("checked_in", staff, "checked in", starts - timedelta(minutes=rng.uniform(0, 20)))
            if not self.svc.pay_now and self.amount > 0:
                self.pay(self.slot.ends_at - 5 * MINUTE, staff)
            self.step(
                "completed", ("system", "day-close", "batch"), "service delivered", self.slot.ends_at + 5 * MINUTE
            )
            if self.paid and rng.random() < b.complaint_refund:
                why = rng.choice(("complaint: long wait", "goodwill gesture"))
                self.refund((self.amount * Decimal("0.2")).quantize(CENT), why, self.last + timedelta(days=1), staff)
        return self.finish()

    def pay(self, at: datetime, actor: tuple[str, str, str]) -> bool:
        """Payment attempts until one is paid or the customer gives up; True when paid."""
        b = self.d.profile.behaviour
        for attempt in range(3):
            failed = self.d.rng.random() < b.payment_failure
            self.payment(at, "failed" if failed else "paid", actor)
            if not failed:
                return True
            if attempt == 2 or self.d.rng.random() >= b.payment_retry:
                return False
            at += 10 * MINUTE
        return False

    def payment(self, at: datetime, status: str, actor: tuple[str, str, str]) -> None:
        pid, d = new_id(), self.d
        done = at + MINUTE if status != "pending" else at
        failure = "card declined" if status == "failed" else None
        d.rows.payments.append(
            [d.business_id, pid, self.bid, self.amount, d.currency, status, Decimal(0), failure, at, done]
        )
        d.rows.payment_events.append((d.business_id, pid, self.bid, None, "pending", *actor, at))
        if status != "pending":
            who = ("system", "payments-provider", "batch")
            d.rows.payment_events.append((d.business_id, pid, self.bid, "pending", status, *who, done))
            self.last = max(self.last, done)
        self.statuses.append(status)
        if status == "paid":
            self.paid.append(d.rows.payments[-1])
            self.received += self.amount

    def refund(self, amount: Decimal, reason: str, at: datetime, actor: tuple[str, str, str]) -> None:
        row, d = self.paid[-1], self.d
        if amount <= 0:
            return
        row[6] = amount
        row[5] = "refunded" if amount == self.amount else "partially_refunded"
        row[9] = at
        d.rows.refunds.append((d.business_id, new_id(), row[1], amount, d.currency, reason, at))
        d.rows.payment_events.append((d.business_id, row[1], self.bid, "paid", row[5], *actor, at))
        self.statuses[-1] = str(row[5])
        self.returned += amount
        self.last = max(self.last, at)

    def finish(self) -> tuple[str, str]:
        """The booking's final status and payment_status, as booking_payment_status() derives it."""
        unpaid = PaymentStatus.FAILED if "failed" in self.statuses and "pending" not in self.statuses else None
        status = payment_status(self.amount, self.received, self.returned, unpaid or PaymentStatus.PENDING)
        return self.status, str(status)


def quotas(weights: list[float], total: int) -> Iterator[int]:
    """Split `total` over `weights` in whole numbers that add up exactly (largest remainders)."""
    whole = sum(weights)
    if not weights or whole <= 0:
        return iter([0] * len(weights))
    shares = [w * total / whole for w in weights]
    base = [int(s) for s in shares]
    rest = total - sum(base)
    for i in sorted(range(len(shares)), key=lambda i: (base[i] - shares[i], i))[:rest]:
        base[i] += 1
    return iter(base)
