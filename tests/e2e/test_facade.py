"""The facade: each use case is one declaration whose call takes its request's fields and reads the clock once."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from booking_core import Actor, BookingSystem
from booking_core.domain import requests
from booking_core.services.context import Context
from booking_core.services.usecase import UseCase
from tests.conftest import MONDAY
from tests.factories import Shop

USE_CASES = {name: v for name, v in vars(BookingSystem).items() if isinstance(v, UseCase)}


def test_every_public_method_but_close_is_a_use_case_declaration() -> None:
    public = {n for n in dir(BookingSystem) if not n.startswith("_")}
    assert public - set(USE_CASES) == {"close"}
    assert len(USE_CASES) == 45


@pytest.mark.parametrize("name", sorted(USE_CASES))
def test_a_use_case_takes_exactly_the_fields_of_its_request(name: str) -> None:
    use_case = USE_CASES[name]
    assert dataclasses.is_dataclass(use_case.request)
    assert use_case.request.__module__ == requests.__name__
    bound = getattr(BookingSystem.__new__(BookingSystem), name)
    assert inspect.signature(bound) == inspect.signature(use_case.request)
    assert bound.__name__ == name


def test_an_unknown_argument_is_refused_before_anything_runs() -> None:
    system = BookingSystem.__new__(BookingSystem)  # no database: nothing may reach it
    with pytest.raises(TypeError, match="slot"):
        system.book(uuid.uuid4(), slot=uuid.uuid4(), customer_id=uuid.uuid4(), party_size=1, actor=Actor.admin("a"))  # type: ignore[call-arg]


def test_the_clock_is_read_once_and_only_when_the_request_brings_no_instant() -> None:
    reads: list[datetime] = []

    def clock() -> datetime:
        reads.append(MONDAY + timedelta(seconds=len(reads)))
        return reads[-1]

    given = Context(db=None, now=MONDAY - timedelta(days=1), clock=clock)  # type: ignore[arg-type]
    assert given.now == given.now == MONDAY - timedelta(days=1)
    assert reads == []
    defaulted = Context(db=None, clock=clock)  # type: ignore[arg-type]
    assert defaulted.now == defaulted.now == MONDAY
    assert reads == [MONDAY]


def test_a_call_without_now_is_made_at_the_systems_clock(shop: Shop, system: BookingSystem) -> None:
    at = datetime(2030, 1, 7, 10, 30, tzinfo=UTC)
    clocked = BookingSystem(system.db, clock=lambda: at)
    customer = clocked.add_customer(shop.business_id, name="Clocked", actor=shop.admin)
    slot = shop.first_slot()
    booking = clocked.book(shop.business_id, slot_id=slot.id, customer_id=customer, party_size=1, actor=shop.admin)
    assert booking.created_at == at
    assert clocked.cancel(shop.business_id, booking.id, actor=shop.admin).updated_at == at
