"""The booking and payment state machines and the seat-holding statuses, without a database.

The expected tables are written out here from the design (docs/invariants.md, rules 2 and 3),
not read from the domain, so a change to the domain's tables fails a test until it is meant.
"""

from __future__ import annotations

import itertools

import pytest

from booking_core.domain.errors import ActorNotAllowed, IllegalTransition
from booking_core.domain.lifecycle import (
    PAYMENT_EDGES,
    SEAT_HOLDING,
    BookingStatus,
    PaymentStatus,
    allowed,
    check_transition,
)
from booking_core.domain.values import ActorType

B, P = BookingStatus, PaymentStatus
CUSTOMER, ADMIN, SYSTEM = ActorType.CUSTOMER, ActorType.ADMIN, ActorType.SYSTEM


def parse_machine(table: str) -> dict[tuple[str | None, str], set[str]]:
    """A designed machine, one edge a row: `from to [actors...]`; `creation` is the from of a new one."""
    rows = [line.split() for line in table.strip().splitlines()[1:]]
    return {(None if r[0] == "creation" else r[0], r[1]): set(r[2:]) for r in rows}


DESIGNED_BOOKING_MACHINE = """
    from        to          who may walk it
    creation    draft       customer admin system
    creation    confirmed   customer admin system
    draft       confirmed   customer admin system
    draft       cancelled   customer admin
    confirmed   checked_in  admin system
    confirmed   no_show     admin system
    confirmed   cancelled   customer admin
    checked_in  completed   admin system
    cancelled   refunded    admin system
    no_show     refunded    admin
"""
EXPECTED_BOOKING_EDGES = {
    (f and B(f), B(t)): {ActorType(a) for a in actors}
    for (f, t), actors in parse_machine(DESIGNED_BOOKING_MACHINE).items()
}
FROM_STATES: list[BookingStatus | None] = [None, *BookingStatus]
MISSING_EDGES = [
    (f, t) for f, t in itertools.product(FROM_STATES, BookingStatus) if (f, t) not in EXPECTED_BOOKING_EDGES
]


def named(rows):  # type: ignore[no-untyped-def]
    """Parameters named by their edge: `creation-confirmed-system`."""
    return [pytest.param(*row, id="-".join(str(part or "creation") for part in row)) for row in rows]


# ---------------------------------------------------------------- the booking machine, edge by edge


@pytest.mark.parametrize(
    ("current", "target", "actor"),
    named((f, t, a) for (f, t) in EXPECTED_BOOKING_EDGES for a in ActorType),
)
def test_each_edge_of_the_booking_machine_is_open_to_its_actors_and_closed_to_the_others(current, target, actor):
    if actor in EXPECTED_BOOKING_EDGES[(current, target)]:
        check_transition(current, target, actor)
        assert allowed(current, target, actor)
    else:
        with pytest.raises(ActorNotAllowed, match=f"a {actor} actor cannot move a booking"):
            check_transition(current, target, actor)
        assert not allowed(current, target, actor)


@pytest.mark.parametrize(("current", "target"), named(MISSING_EDGES))
def test_a_move_the_machine_does_not_have_is_illegal_for_every_actor(current, target):
    for actor in ActorType:
        with pytest.raises(IllegalTransition, match=f"cannot go from {current} to {target}"):
            check_transition(current, target, actor)
        assert not allowed(current, target, actor)


def test_cannot_check_in_a_cancelled_booking():
    with pytest.raises(IllegalTransition, match="cancelled to checked_in: from cancelled it can go to refunded"):
        check_transition(B.CANCELLED, B.CHECKED_IN, ADMIN)


def case(sentence: str, *values: object):  # type: ignore[no-untyped-def]
    """One case of a parametrized test, named by the sentence it proves."""
    return pytest.param(*values, id=sentence)


@pytest.mark.parametrize(
    ("current", "target", "says"),
    [
        case("cannot check in a draft", B.DRAFT, B.CHECKED_IN, "from draft it can go to cancelled, confirmed"),
        case("cannot confirm a cancelled booking", B.CANCELLED, B.CONFIRMED, "from cancelled it can go to refunded"),
        case("cannot create a checked-in booking", None, B.CHECKED_IN, "from None it can go to confirmed, draft"),
    ],
)
def test_an_illegal_move_says_where_the_booking_can_go_instead(current, target, says):
    with pytest.raises(IllegalTransition, match=says):
        check_transition(current, target, ADMIN)


@pytest.mark.parametrize(
    ("current", "target", "actor", "says"),
    [
        case("a customer cannot check themselves in", B.CONFIRMED, B.CHECKED_IN, CUSTOMER, "only admin, system can"),
        case("a customer cannot mark themselves a no-show", B.CONFIRMED, B.NO_SHOW, CUSTOMER, "only admin, system can"),
        case("the system never cancels a confirmed booking", B.CONFIRMED, B.CANCELLED, SYSTEM, "only admin, customer"),
        case("only an admin refunds a no-show", B.NO_SHOW, B.REFUNDED, SYSTEM, "only admin can"),
    ],
)
def test_a_refused_actor_is_told_who_may_make_the_move(current, target, actor, says):
    with pytest.raises(ActorNotAllowed, match=says):
        check_transition(current, target, actor)


@pytest.mark.parametrize("final", [B.COMPLETED, B.REFUNDED])
def test_a_completed_or_refunded_booking_is_final(final):
    for target in BookingStatus:
        with pytest.raises(IllegalTransition, match=f"{final} is final"):
            check_transition(final, target, ADMIN)


def test_an_admin_may_refund_a_no_show():
    check_transition(B.NO_SHOW, B.REFUNDED, ADMIN)


# ---------------------------------------------------------------- seats and rescheduling


@pytest.mark.parametrize(
    ("status", "holds"),
    [
        (B.DRAFT, False),  # a pay-now booking takes its seat when paid
        (B.CONFIRMED, True),
        (B.CHECKED_IN, True),
        (B.COMPLETED, True),
        (B.NO_SHOW, True),  # the seat was kept for them: it stays counted
        (B.CANCELLED, False),
        (B.REFUNDED, False),
    ],
)
def test_a_booking_holds_its_seats_in_exactly_the_seat_holding_statuses(status, holds):
    assert status.holds_seat is holds
    assert (status in SEAT_HOLDING) is holds


def test_a_booking_leaves_the_seat_holding_statuses_only_by_cancellation_or_refund():
    releasing = {(f, t) for (f, t) in EXPECTED_BOOKING_EDGES if f in SEAT_HOLDING and t not in SEAT_HOLDING}
    assert releasing == {(B.CONFIRMED, B.CANCELLED), (B.NO_SHOW, B.REFUNDED)}


@pytest.mark.parametrize("status", list(BookingStatus))
def test_only_a_draft_or_confirmed_booking_can_be_rescheduled(status):
    assert status.reschedulable is (status in (B.DRAFT, B.CONFIRMED))


# ---------------------------------------------------------------- the payment machine

DESIGNED_PAYMENT_MACHINE = """
    from                to
    creation            pending
    creation            paid
    creation            failed
    pending             paid
    pending             failed
    paid                partially_refunded
    paid                refunded
    partially_refunded  partially_refunded
    partially_refunded  refunded
"""
EXPECTED_PAYMENT_EDGES = {(f and P(f), P(t)) for f, t in parse_machine(DESIGNED_PAYMENT_MACHINE)}


@pytest.mark.parametrize(("current", "target"), named(itertools.product([None, *PaymentStatus], PaymentStatus)))
def test_the_payment_machine_has_exactly_the_designed_edges(current, target):
    assert ((current, target) in PAYMENT_EDGES) is ((current, target) in EXPECTED_PAYMENT_EDGES)


def test_a_failed_payment_is_final():
    assert not {t for f, t in PAYMENT_EDGES if f is P.FAILED}


def test_a_fully_refunded_payment_is_final():
    assert not {t for f, t in PAYMENT_EDGES if f is P.REFUNDED}


def test_cannot_refund_a_payment_still_pending():
    assert (P.PENDING, P.REFUNDED) not in PAYMENT_EDGES
    assert (P.PENDING, P.PARTIALLY_REFUNDED) not in PAYMENT_EDGES


def test_no_payment_ever_goes_back_to_pending():
    assert {f for f, t in PAYMENT_EDGES if t is P.PENDING} == {None}


def test_partial_refunds_may_repeat_until_the_payment_is_fully_refunded():
    assert {t for f, t in PAYMENT_EDGES if f is P.PARTIALLY_REFUNDED} == {P.PARTIALLY_REFUNDED, P.REFUNDED}


def test_partially_paid_describes_a_booking_never_a_payment():
    assert all(P.PARTIALLY_PAID not in edge for edge in PAYMENT_EDGES)
