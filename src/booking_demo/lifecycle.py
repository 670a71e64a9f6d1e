"""What happens to one demo booking after the request: payment, cancel, reschedule, the visit, refunds.

Each step is an event on the generator's simulated clock and one call of the public API,
so the database records it exactly as production would (audit rows, transitions, payments).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from random import Random
from typing import Protocol

from booking_core.bootstrap import BookingSystem
from booking_core.domain.errors import CapacityExceeded, LegacySlot, Unavailable
from booking_core.domain.lifecycle import BookingStatus, PaymentMethod
from booking_core.domain.model import Booking, Slot
from booking_core.domain.values import Actor, ActorType, Channel, Money
from booking_demo.tenant import Tenant

PROVIDER = Actor.system("payments-provider")
# The browsers customers book from: each customer's changes carry an address of the documentation
# range 203.0.113.0/24 and a user agent, both fixed per customer (personal data retention drops).
AGENTS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4)", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)", "Mozilla/5.0 (Linux; Android 14)")  # fmt: skip


def online(customer: uuid.UUID) -> Actor:
    """A customer acting through the web: their address and browser recorded with each change."""
    n = customer.int
    return Actor(ActorType.CUSTOMER, str(customer), Channel.API, f"203.0.113.{n % 254 + 1}", AGENTS[n % len(AGENTS)])


DAY_CLOSE = Actor.system("day-close")
FAILURES = ("card declined", "3-D Secure timed out", "insufficient funds")
COMPLAINTS = ("complaint: long wait", "complaint: service not as described", "goodwill gesture")
MINUTE = timedelta(minutes=1)


@dataclass
class Tracked:
    """The generator's view of one booking it made (the database stays the truth)."""

    tenant: Tenant
    service: uuid.UUID
    id: uuid.UUID
    customer: uuid.UUID
    slot: Slot
    party: int
    status: BookingStatus
    price: Money
    paid: list[uuid.UUID] = field(default_factory=list)
    visit: int = 0  # bumped by a reschedule, so the old slot's visit event is ignored

    @property
    def actor(self) -> Actor:
        return online(self.customer)

    def follow(self, booking: Booking) -> None:
        self.status = booking.status


class Simulation(Protocol):
    """What the steps need from the generator's simulation of one business."""

    system: BookingSystem
    rng: Random
    stats: Counter[str]

    def at(self, when: datetime, event: Callable[[datetime], None]) -> None: ...

    def day_slots(self, t: Tenant, service: uuid.UUID, day: date) -> list[Slot]: ...

    def pick_customer(self, t: Tenant) -> uuid.UUID: ...


class Lifecycle:
    """The steps, each `step(tracked, now)`; decisions come from the generator's seeded RNG."""

    def __init__(self, gen: Simulation) -> None:
        self.gen = gen
        self.system = gen.system
        self.rng = gen.rng
        self.stats = gen.stats

    # ------------------------------------------------------------------ booking
    def request(self, t: Tenant, service: uuid.UUID, day: date, wanted: time, party: int, now: datetime) -> None:
        """A customer asks for `party` seats on `day` around `wanted`; book the best fit, or be refused."""
        self.stats["requests"] += 1
        candidates = self._candidates(t, service, day, wanted, party, now)
        if not candidates:
            self.stats["requests_closed_day"] += 1
            return
        target = next((s for s in candidates if s.free_seats >= party), candidates[0])
        customer = self.gen.pick_customer(t)
        on_the_web = self.rng.random() < 0.85
        actor = online(customer) if on_the_web else t.staff  # else: booked by phone
        try:
            booking = self.system.book(
                t.business_id, slot_id=target.id, customer_id=customer, party_size=party, actor=actor, now=now
            )
        except (CapacityExceeded, LegacySlot, Unavailable):
            self.stats["refused"] += 1
            return
        self.stats["bookings"] += 1
        tr = Tracked(t, service, booking.id, customer, target, party, booking.status, booking.price)
        if booking.payment_method is PaymentMethod.PAY_NOW:
            self.gen.at(now + self._minutes(1, 4), lambda at: self.pay(tr, 1, at))
        else:
            self.after_confirmed(tr, now)

    def _candidates(
        self, t: Tenant, service: uuid.UUID, day: date, wanted: time, party: int, now: datetime
    ) -> list[Slot]:
        """Slots that day a customer would accept, best first (never by id: ids are random)."""
        soon = now + t.profile.behaviour.lead_min / 2
        slots = [s for s in self.gen.day_slots(t, service, day) if s.starts_at > soon]
        order = t.resources
        if t.profile.key == "clinic":
            minutes = wanted.hour * 60 + wanted.minute
            slots.sort(
                key=lambda s: (abs(s.local_start.hour * 60 + s.local_start.minute - minutes), order[s.resource_id][0])
            )
            return slots
        same = [s for s in slots if s.local_start == wanted]
        # Restaurant: the smallest table that seats the party, else the biggest one (refused).
        same.sort(key=lambda s: (s.max_capacity < party, s.max_capacity, order[s.resource_id][0]))
        return same

    def after_confirmed(self, tr: Tracked, now: datetime) -> None:
        """A confirmed booking may be cancelled or moved before its day; then comes the visit."""
        b, starts = tr.tenant.profile.behaviour, tr.slot.starts_at
        r = self.rng.random()
        if r < b.cancel:
            when = now + (starts - now) * self.rng.betavariate(2.0, 1.2)
            self.gen.at(min(when, starts - 5 * MINUTE), lambda at: self.cancel(tr, at))
        elif r < b.cancel + b.reschedule:
            when = now + (starts - now) * self.rng.uniform(0.1, 0.7)
            self.gen.at(when, lambda at: self.reschedule(tr, at))
        self._plan_visit(tr)

    def _plan_visit(self, tr: Tracked) -> None:
        visit = tr.visit
        self.gen.at(tr.slot.starts_at - self._minutes(0, 20), lambda at: self.visit(tr, visit, at))

    # ------------------------------------------------------------------ paying now
    def pay(self, tr: Tracked, attempt: int, now: datetime) -> None:
        if tr.status is not BookingStatus.DRAFT:
            return
        payment = self.system.record_payment(tr.tenant.business_id, tr.id, amount=tr.price, actor=tr.actor, now=now)
        self.stats["payments"] += 1
        if self.rng.random() < tr.tenant.profile.behaviour.payment_failure:
            self.gen.at(now + MINUTE, lambda at: self.fail(tr, payment.id, attempt, at))
        else:
            self.gen.at(now + MINUTE, lambda at: self.confirm(tr, payment.id, at))

    def confirm(self, tr: Tracked, payment_id: uuid.UUID, now: datetime) -> None:
        outcome = self.system.confirm_payment(tr.tenant.business_id, payment_id, actor=PROVIDER, now=now)
        tr.follow(outcome.booking)
        if outcome.refunded_for_lost_seat:
            # The class filled up while the customer paid: the core refunded; the draft is dropped.
            self.stats["refunded_for_lost_seat"] += 1
            self.gen.at(now + 2 * MINUTE, lambda at: self.cancel(tr, at, reason="class full when paid"))
            return
        tr.paid.append(payment_id)
        if tr.status is BookingStatus.CONFIRMED:
            self.after_confirmed(tr, now)

    def fail(self, tr: Tracked, payment_id: uuid.UUID, attempt: int, now: datetime) -> None:
        reason = self.rng.choice(FAILURES)
        self.system.fail_payment(tr.tenant.business_id, payment_id, reason=reason, actor=PROVIDER, now=now)
        self.stats["payment_failures"] += 1
        if attempt < 3 and self.rng.random() < tr.tenant.profile.behaviour.payment_retry:
            self.gen.at(now + self._minutes(3, 20), lambda at: self.pay(tr, attempt + 1, at))
        else:
            self.gen.at(
                now + self._minutes(20, 90), lambda at: self.cancel(tr, at, reason="payment did not go through")
            )

    # ------------------------------------------------------------------ changes before the day
    def cancel(self, tr: Tracked, now: datetime, *, reason: str | None = None) -> None:
        if tr.status not in (BookingStatus.DRAFT, BookingStatus.CONFIRMED):
            return
        b = tr.tenant.profile.behaviour
        by_admin = reason is None and self.rng.random() < b.admin_cancel_share
        actor = tr.tenant.staff if by_admin else tr.actor
        why = reason or self.rng.choice(b.admin_reasons if by_admin else b.customer_reasons)
        booking = self.system.cancel(tr.tenant.business_id, tr.id, actor=actor, reason=why, now=now)
        tr.follow(booking)
        self.stats["cancelled_by_admin" if by_admin else "cancelled_by_customer"] += 1
        if booking.refund_due > 0:
            # The business's cancellation policy fixed the fee; staff refund exactly the rest.
            kept = "late cancellation: fee kept" if booking.cancellation_fee else "cancelled in time: full refund"
            tr.follow(self.system.refund_due(tr.tenant.business_id, tr.id, actor=tr.tenant.staff, reason=kept, now=now))
            self.stats["refunds_partial" if booking.cancellation_fee else "refunds_full"] += 1

    def reschedule(self, tr: Tracked, now: datetime) -> None:
        if tr.status not in (BookingStatus.DRAFT, BookingStatus.CONFIRMED):
            return
        t = tr.tenant
        start = max(now + t.profile.behaviour.lead_min, tr.slot.starts_at - timedelta(days=3))
        options = [
            s
            for s in self.system.open_slots(
                t.business_id, start=start, end=start + timedelta(days=10), service_id=tr.service, min_free=tr.party
            )
            if s.id != tr.slot.id and s.max_capacity <= tr.party + 4
        ]
        if not options:
            self.stats["reschedule_no_option"] += 1
            return
        options.sort(key=lambda s: (s.starts_at, t.resources[s.resource_id][0]))
        target = options[self.rng.randrange(min(len(options), 6))]
        try:
            booking = self.system.reschedule(
                t.business_id,
                tr.id,
                new_slot_id=target.id,
                actor=tr.actor,
                reason="customer asked for another time",
                now=now,
            )
        except Unavailable:
            self.stats["reschedule_refused"] += 1
            return
        tr.follow(booking)
        tr.slot, tr.visit = target, tr.visit + 1
        self.stats["rescheduled"] += 1
        self._plan_visit(tr)

    # ------------------------------------------------------------------ the day itself
    def visit(self, tr: Tracked, visit: int, now: datetime) -> None:
        if visit != tr.visit or tr.status is not BookingStatus.CONFIRMED:
            return
        t = tr.tenant
        if self.rng.random() < t.profile.behaviour.no_show:
            self.gen.at(tr.slot.starts_at + 30 * MINUTE, lambda at: self.no_show(tr, at))
            return
        tr.follow(self.system.check_in(t.business_id, tr.id, actor=t.staff, now=now))
        self.stats["checked_in"] += 1
        ends = tr.slot.ends_at
        if t.profile.payment_method is PaymentMethod.PAY_ON_ARRIVAL and tr.price.amount > 0:
            self.gen.at(ends - 5 * MINUTE, lambda at: self.settle(tr, at))
        self.gen.at(ends + 5 * MINUTE, lambda at: self.complete(tr, at))

    def settle(self, tr: Tracked, now: datetime) -> None:
        """Pay on arrival: the bill at the end, sometimes a declined card first."""
        t = tr.tenant
        first = self.system.record_payment(t.business_id, tr.id, amount=tr.price, actor=t.staff, now=now)
        self.stats["payments"] += 1
        payment_id = first.id
        if self.rng.random() < t.profile.behaviour.payment_failure:
            self.system.fail_payment(
                t.business_id, first.id, reason="card declined at the terminal", actor=PROVIDER, now=now + MINUTE
            )
            self.stats["payment_failures"] += 1
            again = self.system.record_payment(
                t.business_id, tr.id, amount=tr.price, actor=t.staff, now=now + 2 * MINUTE
            )
            self.stats["payments"] += 1
            payment_id = again.id
        self.system.confirm_payment(t.business_id, payment_id, actor=PROVIDER, now=now + 3 * MINUTE)
        tr.paid.append(payment_id)

    def complete(self, tr: Tracked, now: datetime) -> None:
        if tr.status is not BookingStatus.CHECKED_IN:
            return
        tr.follow(self.system.complete(tr.tenant.business_id, tr.id, actor=DAY_CLOSE, now=now))
        self.stats["completed"] += 1
        if tr.paid and self.rng.random() < tr.tenant.profile.behaviour.complaint_refund:
            reason = self.rng.choice(COMPLAINTS)
            self.gen.at(
                now + timedelta(days=1, hours=2), lambda at: self._refund(tr, tr.paid[-1], Decimal("0.2"), reason, at)
            )

    def no_show(self, tr: Tracked, now: datetime) -> None:
        if tr.status is not BookingStatus.CONFIRMED:  # cancelled after the visit was planned
            return
        t = tr.tenant
        tr.follow(self.system.mark_no_show(t.business_id, tr.id, actor=t.staff, now=now))
        self.stats["no_show"] += 1
        if tr.paid and self.rng.random() < 0.2:
            self.gen.at(
                now + timedelta(hours=20),
                lambda at: self._refund(tr, tr.paid[-1], Decimal("0.5"), "no-show: goodwill", at),
            )

    # ------------------------------------------------------------------ helpers
    def _refund(self, tr: Tracked, payment_id: uuid.UUID, share: Decimal, reason: str, now: datetime) -> None:
        amount = (tr.price.amount * share).quantize(Decimal("0.01"))
        if amount <= 0:
            return
        outcome = self.system.refund(
            tr.tenant.business_id,
            payment_id,
            amount=Money(amount, tr.price.currency),
            reason=reason,
            actor=tr.tenant.staff,
            now=now,
        )
        tr.follow(outcome.booking)
        self.stats["refunds_full" if share == 1 else "refunds_partial"] += 1

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))


__all__ = ["Lifecycle", "Tracked"]
