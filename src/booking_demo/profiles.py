"""The three demo businesses as data: catalogue, weekly openings and demand/behaviour distributions.

Both the API-driven demo generator and the bulk `booking seed` path draw from these, so
the two produce the same shapes of data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, time, timedelta

from booking_core.domain.lifecycle import PaymentMethod


@dataclass(frozen=True, slots=True)
class Opening:
    """A recurring opening: on these ISO weekdays at `start`, one slot per resource."""

    weekdays: tuple[int, ...]
    start: time
    demand: float  # mean booking requests per slot-time (all resources together), before seasons


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How customers and staff of one business behave; every probability is per booking."""

    lead_days_mean: float  # booking lead time (exponential), in days
    lead_min: timedelta  # nobody books closer to the start than this
    cancel: float
    admin_cancel_share: float
    reschedule: float
    no_show: float
    payment_failure: float
    payment_retry: float  # after a failed payment, the customer tries again
    complaint_refund: float  # a completed booking later gets a partial refund
    customer_reasons: tuple[str, ...]
    admin_reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """One business of the demo: who it is, what it sells, when it opens, how it is used."""

    key: str
    name: str
    timezone: str
    currency: str
    service: str
    kind: str
    price: str
    payment_method: PaymentMethod
    max_party: int
    party_weights: tuple[int, ...]  # weights of party sizes 1..len
    resources: tuple[tuple[str, str, int], ...]  # (name, kind, seats)
    openings: tuple[Opening, ...]
    duration: timedelta
    season: tuple[float, ...]  # demand factor by month, January first
    customers: int
    staff: str
    behaviour: Behaviour
    # The restaurant's mid-year change: the weekdays it opens before, and from then on.
    first_weekdays: tuple[int, ...] | None = None
    later_weekdays: tuple[int, ...] | None = None
    # A capacity reduction shortly before the anchor: (resource name, new seats, reason).
    reduction: tuple[str, int, str] | None = None
    # A second, prepaid members' service beside each opening: (name, seats, requests per opening).
    members: tuple[str, int, float] | None = None

    def demand(self, day: date, opening: Opening) -> float:
        """Mean requests for an opening on a day: seasonal by month, steady by weekday."""
        return opening.demand * self.season[day.month - 1]

    def weekdays(self, opening: Opening, *, later: bool) -> tuple[int, ...]:
        """The weekdays an opening is on the schedule, before or after the mid-year change."""
        allowed = self.later_weekdays if later else self.first_weekdays
        return opening.weekdays if allowed is None else tuple(d for d in opening.weekdays if d in allowed)


#: How customers and staff behave, by business: the mean booking lead time in days, then per-booking probabilities.
_BUSINESSES = ("restaurant", "fitness", "clinic")
_RATES: dict[str, tuple[float, float, float]] = {
    "lead_days_mean": (6.0, 2.5, 8.0),
    "lead_min_hours": (2.0, 0.75, 3.0),  # nobody books closer to the start than this
    "cancel": (0.12, 0.14, 0.10),
    "admin_cancel_share": (0.15, 0.1, 0.25),
    "reschedule": (0.05, 0.04, 0.08),
    "no_show": (0.06, 0.08, 0.04),
    "payment_failure": (0.04, 0.08, 0.03),
    "payment_retry": (1.0, 0.6, 1.0),
    "complaint_refund": (0.03, 0.01, 0.02),
}


#: What customers and staff give as the reason when they cancel, by business: (customers', staff's).
_REASONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "restaurant": (
        ("change of plans", "feeling unwell", "booked elsewhere", "date moved"),
        ("private event", "kitchen closed: staff shortage", "duplicate booking"),
    ),
    "fitness": (
        ("work ran late", "injury", "moved to another class", "sick"),
        ("instructor ill", "studio maintenance", "class merged"),
    ),
    "clinic": (
        ("feeling better", "work commitment", "childcare", "transport problem"),
        ("practitioner unavailable", "clinic closed: public holiday", "booked in error"),
    ),
}


def _behaviour(key: str) -> Behaviour:
    """A business's behaviour: its column of _RATES and its _REASONS."""
    rates = {name: values[_BUSINESSES.index(key)] for name, values in _RATES.items()}
    lead_min = timedelta(hours=rates.pop("lead_min_hours"))
    customer_reasons, admin_reasons = _REASONS[key]
    return Behaviour(**rates, lead_min=lead_min, customer_reasons=customer_reasons, admin_reasons=admin_reasons)


RESTAURANT = Profile(
    key="restaurant",
    name="Trattoria Lindenhof",
    timezone="Europe/Berlin",
    currency="EUR",
    service="Dinner",
    kind="table",
    price="38.00",
    payment_method=PaymentMethod.PAY_ON_ARRIVAL,
    max_party=8,
    party_weights=(4, 40, 12, 22, 6, 9, 3, 4),
    resources=(
        ("Table 1", "table", 2),
        ("Table 2", "table", 2),
        ("Table 3", "table", 4),
        ("Table 4", "table", 4),
        ("Table 5", "table", 6),
        ("Table 6", "table", 8),
    ),
    openings=(Opening((4, 5, 6, 7), time(18, 0), 1.4), Opening((4, 5, 6, 7), time(20, 30), 2.0)),
    duration=timedelta(hours=2),
    season=(0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.2, 1.1, 1.0, 0.9, 1.0, 1.4),
    customers=160,
    staff="host-marta",
    behaviour=_behaviour("restaurant"),
    first_weekdays=(4, 5, 6),
    later_weekdays=(5, 6, 7),
    reduction=("Table 6", 4, "8-top table out for repair, a 4-top stands in"),
)

FITNESS = Profile(
    key="fitness",
    name="Pulse Cycling Studio",
    timezone="America/New_York",
    currency="USD",
    service="Spin class",
    kind="class",
    price="24.00",
    payment_method=PaymentMethod.PAY_NOW,
    max_party=2,
    party_weights=(9, 1),
    resources=(("Studio A", "room", 12),),
    openings=(Opening((2,), time(18, 30), 5.0), Opening((6,), time(9, 0), 7.0)),
    duration=timedelta(minutes=50),
    season=(1.6, 1.3, 1.1, 1.0, 0.95, 0.8, 0.7, 0.7, 1.0, 1.05, 1.0, 0.8),
    customers=90,
    staff="coach-dana",
    behaviour=_behaviour("fitness"),
    members=("Spin class (members)", 4, 3.5),
    reduction=("Studio A", 5, "floor repair: only 5 bikes usable"),
)

CLINIC = Profile(
    key="clinic",
    name="Harbour Physio Clinic",
    timezone="Australia/Sydney",
    currency="AUD",
    service="Consultation",
    kind="appointment",
    price="95.00",
    payment_method=PaymentMethod.PAY_ON_ARRIVAL,
    max_party=1,
    party_weights=(1,),
    resources=(("Dr Okafor", "staff", 1), ("Dr Lindqvist", "staff", 1)),
    openings=tuple(
        Opening((1, 2, 3, 4, 5), time(h, 0), d)
        for h, d in ((9, 0.5), (10, 0.4), (11, 0.35), (13, 0.3), (14, 0.35), (15, 0.4), (16, 0.5))
    ),
    duration=timedelta(minutes=45),
    season=(0.6, 0.9, 1.0, 1.0, 1.1, 1.3, 1.3, 1.2, 1.0, 1.0, 0.9, 0.7),
    customers=150,
    staff="reception-lee",
    behaviour=_behaviour("clinic"),
)

PROFILES: tuple[Profile, ...] = (RESTAURANT, FITNESS, CLINIC)

# Customer names are drawn from these (first and last apart), so a few hundred customers read as people.
FIRST = (
    *("Anna", "Ben", "Chloe", "David", "Ema", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Kai", "Lena"),
    *("Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yuki"),
)
LAST = (
    *("Adler", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kim"),
    *("Lopez", "Muller", "Nguyen", "Okafor", "Patel", "Rossi", "Smith", "Tanaka", "Weber", "Young"),
)


def customer_name(rng: random.Random, n: int) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}{n}@example.com"


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: exact and fast for the small means used here."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def party_size(rng: random.Random, profile: Profile) -> int:
    return rng.choices(range(1, len(profile.party_weights) + 1), weights=profile.party_weights)[0]


def lead_time(rng: random.Random, behaviour: Behaviour) -> timedelta:
    days = rng.expovariate(1.0 / behaviour.lead_days_mean)
    return behaviour.lead_min + timedelta(days=min(days, 60.0))


def customer_weights(n: int) -> list[float]:
    """Cumulative weights: a few regulars book often, most customers rarely (Zipf-like)."""
    total, out = 0.0, []
    for i in range(n):
        total += 1.0 / (i + 1) ** 0.8
        out.append(total)
    return out
