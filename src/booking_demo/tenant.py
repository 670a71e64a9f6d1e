"""A demo business as the generator created it: its ids, resources, customers and weekly rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from booking_core.domain.schedule import WeeklyRule
from booking_core.domain.values import Actor, Channel
from booking_demo import profiles as pf


@dataclass
class Tenant:
    """A demo business as created: its ids, customers and staff."""

    profile: pf.Profile
    business_id: uuid.UUID
    service_id: uuid.UUID
    tz: ZoneInfo
    resources: dict[uuid.UUID, tuple[int, str, int]]  # id -> (order, name, seats)
    members_service_id: uuid.UUID | None = None
    customers: list[uuid.UUID] = field(default_factory=list)
    cum_weights: list[float] = field(default_factory=list)

    @property
    def staff(self) -> Actor:
        return Actor.admin(self.profile.staff, channel=Channel.UI)

    def rules(self, *, later: bool) -> list[WeeklyRule]:
        p = self.profile
        rules = [
            WeeklyRule(self.service_id, rid, day, o.start, p.duration, seats)
            for rid, (_order, _name, seats) in self.resources.items()
            for o in p.openings
            for day in p.weekdays(o, later=later)
        ]
        if p.members is not None and self.members_service_id is not None:
            rules += [
                WeeklyRule(self.members_service_id, rid, day, o.start, p.duration, p.members[1])
                for rid in self.resources
                for o in p.openings
                for day in p.weekdays(o, later=later)
            ]
        return rules
