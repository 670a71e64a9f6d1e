"""The committed schema snapshot is what the migrations build: every schema change shows in review."""

from __future__ import annotations

import difflib
import re

import pytest

from tests.conftest import IN_CI
from tests.schema.dump import REGENERATE, SNAPSHOT, NoPgDump, fresh_schema, server_major

# pg_dump prints differently from one major to the next: the snapshot is of the service's.
SNAPSHOT_MAJOR = 15


# What any major's pg_dump names the same way: created objects and added constraints.
_NAMED = re.compile(r"^(?:CREATE (?:UNIQUE )?(\w+) ([\w.]+)|.* ADD CONSTRAINT (\w+) )", re.M)


def inventory(dump: str) -> set[tuple[str, str]]:
    """(kind, name) of every object a dump creates, e.g. ("TRIGGER", "bookings_10_before")."""
    return {(m[1], m[2]) if m[1] else ("CONSTRAINT", m[3]) for m in _NAMED.finditer(dump)}


def test_a_freshly_migrated_database_dumps_as_the_committed_snapshot(admin_url: str) -> None:
    try:
        fresh = fresh_schema(admin_url)
    except NoPgDump as exc:
        if IN_CI:
            pytest.fail(f"{exc}: the snapshot cannot be checked")
        pytest.skip(str(exc))
    committed = SNAPSHOT.read_text(encoding="utf-8")
    if server_major(admin_url) != SNAPSHOT_MAJOR:
        # Another major prints differently: the objects it creates must still be the snapshot's.
        assert inventory(fresh) == inventory(committed), (inventory(fresh) ^ inventory(committed), REGENERATE)
        return
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True), fresh.splitlines(keepends=True), "committed", "migrated"
        )
    )
    assert not diff, f"the schema differs from {SNAPSHOT.name}; if the change is intended, run\n  {REGENERATE}\n{diff}"
