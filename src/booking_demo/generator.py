"""The demo dataset: a year of history and three months ahead for three businesses, through the public API.

Deterministic for a seed: every choice comes from one `random.Random(seed)` and every call
gets `now=` from a simulated clock; events run in (time, sequence) order, so the same seed
replays the same calls and the database answers them the same way. Ids are random (UUIDv7),
so compare runs by `dataset_facts`, never by ids. Nothing after the anchor happens: future
slots only hold the bookings made before it.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from booking_core.bootstrap import BookingSystem
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.model import Slot
from booking_core.domain.schedule import resolve_local
from booking_core.domain.values import Actor, Channel, Money
from booking_demo import profiles as pf
from booking_demo.lifecycle import Lifecycle
from booking_demo.tenant import Tenant

Event = Callable[[datetime], None]


def default_anchor() -> datetime:
    """Today at 00:00 UTC: the demo's "now"."""
    today = datetime.now(UTC).date()
    return datetime.combine(today, time(0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """How much to generate: history before the anchor, days ahead of it, a demand multiplier."""

    seed: int = 7
    anchor: datetime = field(default_factory=default_anchor)
    history_days: int = 365
    ahead_days: int = 91
    scale: float = 1.0

    @property
    def start(self) -> datetime:
        return self.anchor - timedelta(days=self.history_days)

    @property
    def horizon(self) -> date:
        return (self.anchor + timedelta(days=self.ahead_days)).date()


class Simulation:
    """One business's simulated year: setup, then its events in time order.

    Each business has its own RNG (seeded from the seed and the business) and its own
    queue, so the three can run side by side in threads and stay deterministic.
    """

    def __init__(self, system: BookingSystem, config: DemoConfig, profile: pf.Profile) -> None:
        self.system = system
        self.config = config
        self.profile = profile
        self.rng = random.Random(f"{config.seed}:{profile.key}")
        self.stats: Counter[str] = Counter()
        self.tenant: Tenant | None = None
        self.done = 0
        self._queue: list[tuple[datetime, int, Event]] = []
        self._seq = 0
        self.lifecycle = Lifecycle(self)

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------ the event queue
    def at(self, when: datetime, event: Event) -> None:
        """Schedule an event; anything at or after the anchor has not happened yet: dropped."""
        if when >= self.config.anchor:
            return
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, event))

    def run(self) -> Tenant:
        t = self.tenant = self.setup()
        self.plan_requests(t)
        self.plan_operations(t)
        while self._queue:
            when, _seq, event = heapq.heappop(self._queue)
            event(when)
            self.done += 1
        return t

    # ------------------------------------------------------------------ setup
    def setup(self) -> Tenant:
        now = self.config.start - timedelta(days=2)
        p, s = self.profile, self.system
        owner = Actor.admin("owner", channel=Channel.CLI)
        biz = s.create_business(name=p.name, timezone=p.timezone, currency=p.currency, actor=owner, now=now)
        svc = s.add_service(
            biz.id,
            name=p.service,
            price=Money(Decimal(p.price), p.currency),
            kind=p.kind,
            payment_method=p.payment_method,
            max_party_size=p.max_party,
            actor=owner,
            now=now,
        )
        resources = {
            s.add_resource(biz.id, name=name, kind=kind, actor=owner, now=now): (i, name, seats)
            for i, (name, kind, seats) in enumerate(p.resources)
        }
        t = Tenant(p, biz.id, svc, ZoneInfo(p.timezone), resources)
        if p.members is not None:
            # Members hold a class pack: nothing to pay per class, a few bikes kept for them.
            t.members_service_id = s.add_service(
                biz.id,
                name=p.members[0],
                price=Money(Decimal(0), p.currency),
                kind=p.kind,
                payment_method=PaymentMethod.PAY_ON_ARRIVAL,
                max_party_size=1,
                actor=owner,
                now=now,
            )
        for n in range(p.customers):
            name, email = pf.customer_name(self.rng, n)
            t.customers.append(s.add_customer(biz.id, name=name, email=email, actor=owner, now=now))
        t.cum_weights = pf.customer_weights(len(t.customers))
        first = self.config.start.astimezone(t.tz).date()
        report = s.publish_schedule(
            biz.id,
            rules=t.rules(later=False),
            effective_date=first,
            horizon_date=self.config.horizon,
            actor=owner,
            now=now,
            note="opening schedule",
        )
        self.stats["slots_created"] += report.slots_created
        return t

    # ------------------------------------------------------------------ demand
    def plan_requests(self, t: Tenant) -> None:
        """Every booking request of the period, drawn up front: seasons, weekdays, hours, lead times."""
        p, rng = t.profile, self.rng
        day = self.config.start.astimezone(t.tz).date()
        earliest = self.config.start - timedelta(days=1)
        while day <= self.config.horizon:
            for o in p.openings:
                if day.isoweekday() not in o.weekdays:
                    continue
                starts = resolve_local(day, o.start, t.tz)
                season = p.demand(day, o) / o.demand
                demand = [(t.service_id, o.demand * season)]
                if p.members is not None and t.members_service_id is not None:
                    demand.append((t.members_service_id, p.members[2] * season))
                for service, mean in demand:
                    for _ in range(pf.poisson(rng, mean * self.config.scale)):
                        party = pf.party_size(rng, p) if service == t.service_id else 1
                        when = max(starts - pf.lead_time(rng, p.behaviour), earliest)
                        when += timedelta(seconds=rng.randrange(3600))
                        if when < starts - timedelta(minutes=30):
                            self.at(when, self._request(t, service, day, o.start, party))
            day += timedelta(days=1)

    def _request(self, t: Tenant, service: uuid.UUID, day: date, wanted: time, party: int) -> Event:
        return lambda now: self.lifecycle.request(t, service, day, wanted, party, now)

    def day_slots(self, t: Tenant, service: uuid.UUID, day: date) -> list[Slot]:
        start = resolve_local(day, time(0), t.tz)
        end = resolve_local(day + timedelta(days=1), time(0), t.tz)
        return self.system.open_slots(t.business_id, start=start, end=end, service_id=service, min_free=0)

    def pick_customer(self, t: Tenant) -> uuid.UUID:
        return self.rng.choices(t.customers, cum_weights=t.cum_weights)[0]

    # ------------------------------------------------------------------ one-off operations
    def plan_operations(self, t: Tenant) -> None:
        if t.profile.later_weekdays is not None:
            when = self.config.start + timedelta(days=self.config.history_days // 2, hours=9)
            self.at(when, lambda now: self._change_schedule(t, now))
        if t.profile.reduction is not None:
            when = self.config.anchor - timedelta(hours=12)
            self.at(when, lambda now: self._reduce_capacity(t, now))

    def _change_schedule(self, t: Tenant, now: datetime) -> None:
        """Mid-year the restaurant moves from Thu-Sat to Fri-Sun, a week ahead."""
        effective = now.astimezone(t.tz).date() + timedelta(days=7)
        report = self.system.publish_schedule(
            t.business_id,
            rules=t.rules(later=True),
            effective_date=effective,
            horizon_date=self.config.horizon,
            actor=t.staff,
            now=now,
            note="moving from Thursday-Saturday to Friday-Sunday",
        )
        self.stats["slots_made_legacy"] += report.slots_retired
        self.stats["bookings_on_legacy_slots"] += len(report.impacted)

    def _reduce_capacity(self, t: Tenant, now: datetime) -> None:
        """A resource shrinks for the next two weeks; slots already fuller stay over-committed."""
        assert t.profile.reduction is not None
        name, seats, reason = t.profile.reduction
        slots = self.system.open_slots(
            t.business_id, start=now, end=now + timedelta(days=14), service_id=t.service_id, min_free=0
        )
        for slot in slots:
            if t.resources[slot.resource_id][1] == name and slot.max_capacity > seats:
                self.system.change_capacity(
                    t.business_id, slot.id, capacity=seats, actor=t.staff, reason=reason, now=now
                )
                self.stats["capacity_reductions"] += 1
                self.stats["slots_over_committed"] += slot.booked_seats > seats


def generate_demo(system: BookingSystem, config: DemoConfig, *, progress: bool = True) -> Counter[str]:
    """Generate the demo dataset into an empty database, seal the audit chains; what happened, by kind."""
    sims = [Simulation(system, config, p) for p in pf.PROFILES]
    with ThreadPoolExecutor(max_workers=len(sims), thread_name_prefix="demo") as pool:
        futures = [pool.submit(sim.run) for sim in sims]
        if progress:
            _show_progress(sims, futures)
        tenants = [f.result() for f in futures]  # re-raises the first failure
    stats: Counter[str] = Counter()
    for sim, tenant in zip(sims, tenants, strict=True):
        stats.update(sim.stats)
        stats["audit_rows_sealed"] += system.seal_audit(tenant.business_id)
    return stats


def _show_progress(sims: list[Simulation], futures: list[Future[Tenant]]) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]generating the demo data"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events  {task.fields[bookings]} bookings"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("demo", total=None, bookings=0)
        while not all(f.done() for f in futures):
            done = sum(s.done for s in sims)
            bar.update(
                task,
                completed=done,
                total=done + sum(s.pending for s in sims),
                bookings=sum(s.stats["bookings"] for s in sims),
            )
            wait(futures, timeout=0.2)
        done = sum(s.done for s in sims)
        bar.update(task, completed=done, total=done, bookings=sum(s.stats["bookings"] for s in sims))


def dataset_facts(system: BookingSystem) -> dict[str, Any]:
    """Business-independent facts of a dataset (no ids): comparable across runs of one seed."""
    queries = {
        "bookings_by_status_day": "SELECT b.name, bk.status::text, ts.local_date::text, count(*), sum(bk.party_size)"
        " FROM bookings bk JOIN businesses b ON b.id = bk.business_id"
        " JOIN time_slots ts ON ts.business_id = bk.business_id AND ts.id = bk.slot_id"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        "payments": "SELECT b.name, p.status::text, count(*), sum(p.amount), sum(p.refunded_amount)"
        " FROM payments p JOIN businesses b ON b.id = p.business_id GROUP BY 1, 2 ORDER BY 1, 2",
        "transitions": "SELECT coalesce(from_status::text, '-'), to_status::text, actor_type::text, count(*)"
        " FROM booking_state_transitions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        "refusals": "SELECT b.name, r.reason::text, count(*) FROM booking_refusals r"
        " JOIN businesses b ON b.id = r.business_id GROUP BY 1, 2 ORDER BY 1, 2",
        "audit_actions": "SELECT action, count(*) FROM booking_audit_log GROUP BY 1 ORDER BY 1",
        "slots": "SELECT b.name, ts.is_legacy, ts.max_capacity, count(*), sum(ts.booked_seats)"
        " FROM time_slots ts JOIN businesses b ON b.id = ts.business_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    }
    out: dict[str, Any] = {}
    with system.db.connect() as conn:
        for key, sql in queries.items():
            out[key] = [tuple(str(v) if isinstance(v, Decimal) else v for v in row) for row in conn.execute(text(sql))]
    return out


__all__ = ["DemoConfig", "Simulation", "Tenant", "dataset_facts", "default_anchor", "generate_demo"]
