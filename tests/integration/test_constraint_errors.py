"""Every constraint a caller can hit becomes a typed error with a one-line message that says what to do.

Each case hits its constraint through the public API where it can, else (the Python layer
refuses first) with the smallest raw statement run in the library's own unit of work, so the
translation path is the one a forgotten check would take.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from booking_core import BookingError, BookingSystem, Money, PaymentMethod, SeriesMode, WeeklyRule
from booking_core.adapters.constraints import CALLER, INTERNAL, markdown_table
from tests.conftest import MONDAY
from tests.factories import Shop

COPIED_COLUMNS = sa.text(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
    " AND table_name = :table AND is_generated = 'NEVER' ORDER BY ordinal_position"
)
GHOST = uuid.UUID("00000000-0000-7000-8000-000000000000")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"

CATALOGUE = """
SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace
   AND contype <> 'n'  -- PostgreSQL 18 names NOT NULL constraints; 23502 names no constraint anyway
UNION ALL
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'public'::regnamespace AND i.indisunique
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""


def test_every_constraint_in_the_schema_is_either_mapped_for_callers_or_declared_internal(system):
    with system.db.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql(CATALOGUE)]
    assert len(names) == len(set(names)), "two constraints share a name: the error cannot tell them apart"
    assert not set(CALLER) & set(INTERNAL), "a constraint is both caller-facing and internal"
    undecided = set(names) - set(CALLER) - set(INTERNAL)
    assert not undecided, f"decide in adapters/constraints.py whether a caller can hit: {sorted(undecided)}"
    gone = (set(CALLER) | set(INTERNAL)) - set(names)
    assert not gone, f"no longer in the schema, drop from adapters/constraints.py: {sorted(gone)}"


def test_every_caller_message_is_one_line_that_says_what_to_do():
    for name, refusal in CALLER.items():
        assert "\n" not in refusal.message, name
        what, _, to_do = refusal.message.partition(": ")
        assert what and to_do, f"{name}: say what is wrong, then ': ' and what to do"
        assert issubclass(refusal.error, BookingError), name
    assert all(reason.strip() and "\n" not in reason for reason in INTERNAL.values())


def test_the_errors_doc_lists_every_caller_constraint_as_the_module_does():
    assert markdown_table() in DOCS.read_text(), "regenerate the table: see docs/errors.md"


# ------------------------------------------------------------------ how to hit each constraint


@dataclass
class World:
    system: BookingSystem
    shop: Shop

    @property
    def b(self) -> uuid.UUID:
        return self.shop.business_id

    def raw(self, sql: sa.Executable | str, **params: Any) -> Callable[[], object]:
        """One statement in the library's own unit of work, committed if it passes."""

        def run() -> None:
            with self.system.db.unit_of_work(self.shop.admin, now=MONDAY) as uow:
                uow.execute(sql, **params)
                uow.commit()

        return run

    def clone(self, table: str, row_id: uuid.UUID, **changes: object) -> Callable[[], object]:
        """Insert a copy of one row (new id) with some columns changed: the smallest raw insert."""
        with self.system.db.connect() as conn:
            columns = list(conn.execute(COPIED_COLUMNS, {"table": table}).scalars())
        source = sa.table(table, *(sa.column(c) for c in columns))
        values = [
            sa.bindparam(c) if c in changes else sa.func.gen_random_uuid() if c == "id" else source.c[c]
            for c in columns
        ]
        copy = sa.insert(source).from_select(
            columns,
            sa.select(*values).where(source.c.business_id == sa.bindparam("b"), source.c.id == sa.bindparam("row_id")),
        )
        return self.raw(copy, b=self.b, row_id=row_id, **changes)

    def count(self, table: str) -> int:
        with self.system.db.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.system.db.connect() as conn:
            return conn.exec_driver_sql(sql, params).scalar_one()


Arrange = Callable[[World], Callable[[], object]]


def _full_slot(w: World) -> uuid.UUID:
    slot = w.shop.first_slot()
    w.shop.book(slot, party=8, customer=0)
    w.shop.book(slot, party=2, customer=1)
    return slot.id


def _booking(w: World, **kw: Any) -> uuid.UUID:
    return w.shop.book(w.shop.first_slot(), party=2, **kw).id  # type: ignore[no-any-return]


def _series(w: World) -> uuid.UUID:
    report = w.system.create_series(
        w.b,
        first_slot_id=w.shop.first_slot().id,
        customer_id=w.shop.customers[0],
        party_size=1,
        every_days=7,
        occurrences=2,
        mode=SeriesMode.BEST_EFFORT,
        actor=w.shop.admin,
        now=MONDAY,
    )
    return report.series_id


def _version(w: World) -> uuid.UUID:
    return w.scalar(  # type: ignore[no-any-return]
        "SELECT id FROM schedule_versions WHERE business_id = %(b)s AND is_active", b=w.b
    )


def _rule(w: World) -> uuid.UUID:
    return w.scalar("SELECT id FROM schedule_rules WHERE business_id = %(b)s LIMIT 1", b=w.b)  # type: ignore[no-any-return]


def _payment(w: World, booking_id: uuid.UUID, key: str | None = None) -> uuid.UUID:
    return w.system.record_payment(
        w.b, booking_id, amount=Money("10", "EUR"), actor=w.shop.admin, idempotency_key=key, now=MONDAY
    ).id


def _paid_pay_now_booking(w: World) -> uuid.UUID:
    w.shop = Shop.create(w.system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW)
    booking = _booking(w)
    payment = w.system.record_payment(w.b, booking, amount=Money("50", "EUR"), actor=w.shop.admin, now=MONDAY)
    w.system.confirm_payment(w.b, payment.id, actor=w.shop.admin, now=MONDAY)
    return booking


def _promo(w: World, code: str = "TEN", **kw: Any) -> str:
    return w.system.add_promo_code(
        w.b, code=code, currency="EUR", valid_from=MONDAY, percent_off=Decimal(10), actor=w.shop.admin, now=MONDAY, **kw
    )


def _api(method: str, *args: Any, **kw: Any) -> Arrange:
    """A public BookingSystem call on the shop's business, as its admin, at MONDAY."""

    def arrange(w: World) -> Callable[[], object]:
        given = [a(w) if callable(a) else a for a in args]
        named = {k: v(w) if callable(v) else v for k, v in kw.items()}
        return lambda: getattr(w.system, method)(*given, actor=w.shop.admin, now=MONDAY, **named)

    return arrange


def _biz(w: World) -> uuid.UUID:
    return w.b


def _svc(w: World) -> uuid.UUID:
    return w.shop.service_id


def _slot(w: World) -> uuid.UUID:
    return w.shop.first_slot().id


def _customer(w: World) -> uuid.UUID:
    return w.shop.customers[0]


def _publish(w: World, rules: list[WeeklyRule]) -> Callable[[], object]:
    return lambda: w.system.publish_schedule(
        w.b,
        rules=rules,
        effective_date=MONDAY.date(),
        horizon_date=MONDAY.date() + timedelta(days=7),
        actor=w.shop.admin,
        now=MONDAY,
    )


def _big_second_resource(w: World) -> Callable[[], object]:
    chairs = w.system.add_resource(w.b, name="Chairs", kind="equipment", actor=w.shop.admin, now=MONDAY)
    chair_rule = WeeklyRule(w.shop.service_id, chairs, 4, time(14), timedelta(hours=2), 5000)
    rules = [*w.shop.rules((4,), capacity=10), chair_rule]
    _publish(w, rules)()
    slot = w.shop.first_slot(4)
    return lambda: w.system.book_with_resources(
        w.b,
        slot_id=slot.id,
        customer_id=w.shop.customers[0],
        party_size=1,
        resources={chairs: 1001},
        actor=w.shop.admin,
        now=MONDAY,
    )


def _second_payment_with_a_used_key(w: World) -> Callable[[], object]:
    booking = _booking(w)
    payment = _payment(w, booking, key="pay-1")
    return w.clone("payments", payment, idempotency_key="pay-1")


def _second_booking_with_a_used_key(w: World) -> Callable[[], object]:
    booking = _booking(w, idempotency_key="book-1")
    return w.clone("bookings", booking, idempotency_key="book-1")


def _join_waitlist(w: World, slot: uuid.UUID, customer: uuid.UUID) -> object:
    return w.system.join_waitlist(w.b, slot_id=slot, customer_id=customer, party_size=1, actor=w.shop.admin, now=MONDAY)


def _join_twice(w: World) -> Callable[[], object]:
    # The service refuses a second join itself (AlreadyOnWaitlist): a raw copy reaches the index.
    return w.clone("waitlist_entries", _waitlist_entry(w))


def _waitlist_entry(w: World) -> uuid.UUID:
    entry = _join_waitlist(w, _full_slot(w), w.shop.customers[2])
    return entry.id  # type: ignore[attr-defined, no-any-return]


def _used_up_promo(w: World) -> Callable[[], object]:
    code = _promo(w, code="ONCE", max_uses=1)
    return w.raw("UPDATE promo_codes SET uses = 2 WHERE business_id = :b AND code = :c", b=w.b, c=code)


def _refund_zero(w: World) -> Callable[[], object]:
    booking = _booking(w)
    payment = _payment(w, booking)
    w.system.confirm_payment(w.b, payment, actor=w.shop.admin, now=MONDAY)
    return lambda: w.system.refund(
        w.b, payment, amount=Money("0", "EUR"), reason="nothing", actor=w.shop.admin, now=MONDAY
    )


def _price_rule(w: World) -> uuid.UUID:
    return w.shop.price_rule("Weekend", "30")  # type: ignore[no-any-return]


RULE = dict(iso_weekday=1, local_start=time(9), duration=timedelta(hours=1), capacity=5)

# constraint -> (table whose rows must not change, how to hit it)
CASES: dict[str, tuple[str, Arrange]] = {
    "businesses_currency_check": (
        "businesses",
        lambda w: w.raw("UPDATE businesses SET currency = 'eur' WHERE id = :b", b=w.b),
    ),
    "businesses_free_cancellation_hours_check": (
        "businesses",
        lambda w: w.raw("UPDATE businesses SET free_cancellation_hours = 9000 WHERE id = :b", b=w.b),
    ),
    "businesses_late_cancellation_fee_percent_check": (
        "businesses",
        lambda w: w.raw("UPDATE businesses SET late_cancellation_fee_percent = 101 WHERE id = :b", b=w.b),
    ),
    "businesses_name_check": ("businesses", lambda w: w.raw("UPDATE businesses SET name = ' ' WHERE id = :b", b=w.b)),
    "customers_business_id_fkey": ("customers", _api("add_customer", GHOST, name="Ann")),
    "services_business_id_fkey": ("services", _api("add_service", GHOST, name="Lunch", price=Money("1", "EUR"))),
    "services_business_id_name_key": ("services", _api("add_service", _biz, name="Dinner", price=Money("1", "EUR"))),
    "services_currency_check": (
        "services",
        lambda w: w.clone("services", w.shop.service_id, name="Euro", currency="eu"),
    ),
    "services_max_party_size_check": (
        "services",
        lambda w: w.clone("services", w.shop.service_id, name="Huge", max_party_size=101),
    ),
    "services_name_check": ("services", _api("add_service", _biz, name=" ", price=Money("1", "EUR"))),
    "services_price_check": ("services", lambda w: w.clone("services", w.shop.service_id, name="Cheap", price=-1)),
    "resources_business_id_fkey": ("resources", _api("add_resource", GHOST, name="Terrace")),
    "resources_business_id_name_key": ("resources", _api("add_resource", _biz, name="Main room")),
    "resources_kind_check": ("resources", _api("add_resource", _biz, name="Boat", kind="boat")),
    "resources_name_check": ("resources", _api("add_resource", _biz, name="")),
    "schedule_versions_business_id_fkey": (
        "schedule_versions",
        lambda w: w.clone("schedule_versions", _version(w), business_id=GHOST, version_number=99, is_active=False),
    ),
    "schedule_versions_check": (
        "schedule_versions",
        lambda w: w.clone(
            "schedule_versions", _version(w), version_number=99, is_active=False, horizon_date=date(2000, 1, 1)
        ),
    ),
    "schedule_rules_business_id_resource_id_fkey": (
        "schedule_rules",
        lambda w: _publish(w, [WeeklyRule(w.shop.service_id, GHOST, **RULE)]),  # type: ignore[arg-type]
    ),
    "schedule_rules_business_id_service_id_fkey": (
        "schedule_rules",
        lambda w: _publish(w, [WeeklyRule(GHOST, w.shop.resource_id, **RULE)]),  # type: ignore[arg-type]
    ),
    "schedule_rules_business_id_schedule_version_id_service_id_r_key": (
        "schedule_rules",
        # publish_schedule refuses a repeated rule itself (InvalidInput): a raw copy reaches the key.
        lambda w: w.clone("schedule_rules", _rule(w)),
    ),
    "schedule_rules_capacity_check": ("schedule_rules", lambda w: w.clone("schedule_rules", _rule(w), capacity=0)),
    "schedule_rules_duration_check": (
        "schedule_rules",
        lambda w: w.clone("schedule_rules", _rule(w), duration=timedelta(hours=25)),
    ),
    "schedule_rules_iso_weekday_check": (
        "schedule_rules",
        lambda w: w.clone("schedule_rules", _rule(w), iso_weekday=8),
    ),
    "time_slots_max_capacity_check": (
        "time_slots",
        lambda w: w.raw("UPDATE time_slots SET max_capacity = 10001 WHERE id = :s", s=w.shop.first_slot().id),
    ),
    "bookings_business_id_customer_id_fkey": (
        "bookings",
        _api("book", _biz, slot_id=_slot, customer_id=GHOST, party_size=1),
    ),
    "bookings_business_id_slot_id_fkey": ("bookings", lambda w: w.clone("bookings", _booking(w), slot_id=GHOST)),
    "bookings_business_id_idempotency_key_key": ("bookings", _second_booking_with_a_used_key),
    "bookings_idempotency_key_check": (
        "bookings",
        _api("book", _biz, slot_id=_slot, customer_id=_customer, party_size=1, idempotency_key="k" * 201),
    ),
    "bookings_party_size_check": (
        "bookings",
        lambda w: w.raw(
            "UPDATE bookings SET party_size = 0 WHERE business_id = :b AND id = :id", b=w.b, id=_booking(w)
        ),
    ),
    "pay_now_paid_before_seat": (
        "bookings",
        lambda w: w.raw(
            "UPDATE bookings SET party_size = 3, amount = 75 WHERE business_id = :b AND id = :id",
            id=_paid_pay_now_booking(w),
            b=w.b,
        ),
    ),
    "payments_amount_check": ("payments", lambda w: w.clone("payments", _payment(w, _booking(w)), amount=0)),
    "payments_business_id_booking_id_fkey": (
        "payments",
        lambda w: w.clone("payments", _payment(w, _booking(w)), booking_id=GHOST),
    ),
    "payments_business_id_idempotency_key_key": ("payments", _second_payment_with_a_used_key),
    "refunds_amount_check": ("refunds", lambda w: _refund_zero(w)),
    "refunds_business_id_payment_id_fkey": (
        "refunds",
        lambda w: w.raw(
            "INSERT INTO refunds (business_id, id, payment_id, amount, currency, reason, created_at)"
            " VALUES (:b, gen_random_uuid(), :p, 1, 'EUR', 'test', now())",
            b=w.b,
            p=GHOST,
        ),
    ),
    "price_rules_amount_check": ("price_rules", lambda w: w.clone("price_rules", _price_rule(w), amount=-1)),
    "price_rules_business_id_service_id_fkey": (
        "price_rules",
        _api("add_price_rule", _biz, service_id=GHOST, name="Happy hour", price=Money("5", "EUR"), valid_from=MONDAY),
    ),
    "price_rules_check": (
        "price_rules",
        lambda w: w.clone("price_rules", _price_rule(w), valid_to=MONDAY - timedelta(1)),
    ),
    "price_rules_iso_weekdays_check": (
        "price_rules",
        _api(
            "add_price_rule",
            _biz,
            service_id=_svc,
            name="Eighth day",
            price=Money("5", "EUR"),
            valid_from=MONDAY,
            iso_weekdays=[8],
        ),
    ),
    "promo_codes_amount_off_check": (
        "promo_codes",
        _api("add_promo_code", _biz, code="FREE", currency="EUR", valid_from=MONDAY, amount_off=Money("0", "EUR")),
    ),
    "promo_codes_business_id_fkey": (
        "promo_codes",
        _api("add_promo_code", GHOST, code="GHOST", currency="EUR", valid_from=MONDAY, percent_off=Decimal(5)),
    ),
    "promo_codes_check": (
        "promo_codes",
        lambda w: w.raw(
            "INSERT INTO promo_codes (business_id, code, currency, valid_from, created_at)"
            " VALUES (:b, 'NOTHING', 'EUR', now(), now())",
            b=w.b,
        ),
    ),
    "promo_codes_check1": ("promo_codes", _used_up_promo),
    "promo_codes_code_check": (
        "promo_codes",
        _api("add_promo_code", _biz, code="ten off", currency="EUR", valid_from=MONDAY, percent_off=Decimal(10)),
    ),
    "promo_codes_max_uses_check": (
        "promo_codes",
        _api(
            "add_promo_code", _biz, code="NEVER", currency="EUR", valid_from=MONDAY, percent_off=Decimal(10), max_uses=0
        ),
    ),
    "promo_codes_percent_off_check": (
        "promo_codes",
        lambda w: w.raw(
            "INSERT INTO promo_codes (business_id, code, percent_off, currency, valid_from, created_at)"
            " VALUES (:b, 'MORE', 101, 'EUR', now(), now())",
            b=w.b,
        ),
    ),
    "promo_codes_pkey": ("promo_codes", lambda w: (_promo(w), lambda: _promo(w))[1]),
    "booking_resources_quantity_check": ("booking_resources", _big_second_resource),
    "waitlist_entries_business_id_customer_id_fkey": (
        "waitlist_entries",
        lambda w: (lambda slot: lambda: _join_waitlist(w, slot, GHOST))(_full_slot(w)),
    ),
    "waitlist_entries_business_id_slot_id_fkey": (
        "waitlist_entries",
        lambda w: w.clone("waitlist_entries", _waitlist_entry(w), slot_id=GHOST, customer_id=w.shop.customers[0]),
    ),
    "waitlist_entries_party_size_check": (
        "waitlist_entries",
        lambda w: w.clone("waitlist_entries", _waitlist_entry(w), party_size=0, customer_id=w.shop.customers[0]),
    ),
    "waitlist_entries_one_live": ("waitlist_entries", _join_twice),
    "booking_series_business_id_customer_id_fkey": (
        "booking_series",
        _api(
            "create_series",
            _biz,
            first_slot_id=_slot,
            customer_id=GHOST,
            party_size=1,
            every_days=7,
            occurrences=2,
            mode=SeriesMode.BEST_EFFORT,
        ),
    ),
    "booking_series_every_days_check": (
        "booking_series",
        lambda w: w.clone("booking_series", _series(w), every_days=0),
    ),
    "booking_series_mode_check": ("booking_series", lambda w: w.clone("booking_series", _series(w), mode="sometimes")),
    "booking_series_occurrences_check": (
        "booking_series",
        lambda w: w.clone("booking_series", _series(w), occurrences=521),
    ),
    "booking_series_party_size_check": (
        "booking_series",
        lambda w: w.clone("booking_series", _series(w), party_size=0),
    ),
}


def test_every_caller_constraint_has_a_case():
    assert set(CASES) == set(CALLER)


@pytest.mark.parametrize("constraint", sorted(CASES))
def test_hitting_a_constraint_raises_its_typed_error_and_changes_nothing(system, constraint):
    table, arrange = CASES[constraint]
    world = World(system, Shop.create(system, now=MONDAY))
    attempt = arrange(world)
    before = world.count(table)
    with pytest.raises(BookingError) as info:
        attempt()
    expected = CALLER[constraint]
    assert type(info.value) is expected.error, f"{type(info.value).__name__}: {info.value}"
    assert info.value.context.get("constraint") == constraint
    assert str(info.value) == expected.message
    assert len(str(info.value).splitlines()) == 1 and ": " in str(info.value)
    assert world.count(table) == before
