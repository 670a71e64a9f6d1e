"""The exception tree, without a database: what every error carries and that the drawn tree is the real one."""

from __future__ import annotations

import re

import pytest

from booking_core.domain import errors
from booking_core.domain.errors import (
    BookingError,
    Busy,
    DatabaseUnavailable,
    ResourcesUnavailable,
    SeriesUnavailable,
)

# Every error class the module defines (tests/integration/test_fault_boundary.py: each is exported).
PUBLIC = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, BookingError)]


def drawn_parents() -> dict[str, str]:
    """Each class's parent as the module docstring draws it (`├── Name` indented four per level)."""
    parents: dict[str, str] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^([│ ]*)[├└]── (\w+)", line)
        if m:
            depth = len(m.group(1)) // 4 + 1
            path[depth:] = [m.group(2)]
            parents[m.group(2)] = path[depth - 1]
        elif line.startswith("BookingError"):
            path = ["BookingError"]
    return parents


def test_the_tree_drawn_in_the_docstring_is_the_class_tree():
    assert drawn_parents() == {cls.__name__: cls.__bases__[0].__name__ for cls in PUBLIC if cls is not BookingError}


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_error_is_a_booking_error_with_a_one_line_docstring(cls):
    assert issubclass(cls, BookingError)
    assert cls.__doc__ and cls.__doc__.strip().splitlines()[0].endswith(".")


def test_only_busy_is_retryable_by_kind_and_an_unreachable_database_says_per_case():
    assert {cls.__name__ for cls in PUBLIC if cls.retryable} == {"Busy"}
    assert Busy("lock timeout: try again").retryable
    assert DatabaseUnavailable("connection lost", retryable=True).retryable
    assert not DatabaseUnavailable("not migrated: run booking migrate").retryable


def test_an_error_keeps_its_context_and_the_databases_sqlstate_only_when_it_is_text():
    err = Busy("lock timeout: try again", sqlstate="55P03", slot="s-1")
    assert (err.sqlstate, err.context["slot"]) == ("55P03", "s-1")
    assert BookingError("x", sqlstate=55).sqlstate is None


def test_an_error_without_a_message_is_named_by_its_class():
    assert str(errors.StaleVersion("")) == "StaleVersion"


def test_a_multi_resource_or_series_refusal_says_what_is_missing():
    missing = [{"resource_id": "r-1", "short_by": 1}]
    assert ResourcesUnavailable("resources missing: pick another time", missing=missing).missing == missing
    assert SeriesUnavailable("occurrences full: book the rest", failures=[(2, "full")]).failures == [(2, "full")]
