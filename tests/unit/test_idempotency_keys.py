"""The pure parts of idempotency, without a database: which keys are valid, which amounts are one request.

Whether a key replays or conflicts is decided by idempotency_begin() in the database, under the
key's lock: tests/integration/test_idempotency.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from booking_core.domain.errors import IdempotencyConflict, InvalidInput
from booking_core.services.idempotency import MAX_KEY_LENGTH, amount_text, check_key, conflict


@pytest.mark.parametrize("key", [None, "k", "x" * MAX_KEY_LENGTH, "0191d2c4-8a34-7c1e-9f00-3b1c2d4e5f60"])
def test_a_key_of_1_to_200_characters_or_none_is_accepted(key):
    check_key(key)


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), 42])
def test_an_empty_overlong_or_non_text_key_is_refused_with_what_to_send(key):
    with pytest.raises(InvalidInput, match="send a shorter key"):
        check_key(key)


@pytest.mark.parametrize(
    ("amounts", "text"),
    [
        (("10", "10.0", "10.00", "1E+1"), "10"),
        (("12.5", "12.50"), "12.5"),
        (("0", "0.00", "-0", "-0.00"), "0"),
        (("100",), "100"),
    ],
)
def test_amounts_that_are_equal_fingerprint_as_one_request(amounts, text):
    assert {amount_text(Decimal(a)) for a in amounts} == {text}


def test_amounts_that_differ_fingerprint_as_different_requests():
    assert amount_text(Decimal("10.01")) != amount_text(Decimal("10.1")) != amount_text(Decimal("10"))


def test_a_key_reused_for_another_request_is_a_conflict_saying_to_use_a_new_key():
    err = conflict("k-1", "booking")
    assert isinstance(err, IdempotencyConflict)
    assert str(err) == "idempotency key k-1 was used for a different booking: use a new key for a new request"
