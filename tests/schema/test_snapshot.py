"""The committed schema snapshot is what the migrations build: every schema change shows in review."""

from __future__ import annotations

import difflib

import pytest

from tests.conftest import IN_CI
from tests.schema.dump import REGENERATE, SNAPSHOT, NoPgDump, fresh_schema, server_major

# pg_dump prints differently from one major to the next: the snapshot is of the service's.
SNAPSHOT_MAJOR = 15


def test_a_freshly_migrated_database_dumps_as_the_committed_snapshot(admin_url: str) -> None:
    if server_major(admin_url) != SNAPSHOT_MAJOR:
        pytest.skip(f"the snapshot is PostgreSQL {SNAPSHOT_MAJOR}'s pg_dump output; this server is another major")
    try:
        fresh = fresh_schema(admin_url)
    except NoPgDump as exc:
        if IN_CI:
            pytest.fail(f"{exc}: the snapshot cannot be checked")
        pytest.skip(str(exc))
    committed = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True), fresh.splitlines(keepends=True), "committed", "migrated"
        )
    )
    assert not diff, f"the schema differs from {SNAPSHOT.name}; if the change is intended, run\n  {REGENERATE}\n{diff}"
