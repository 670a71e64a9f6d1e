"""Settings from the environment: which database, where the embedded server keeps its data."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_URL = "BOOKING_DATABASE_URL"
ENV_DATA_DIR = "BOOKING_DATA_DIR"
ENV_LOCK_TIMEOUT = "BOOKING_LOCK_TIMEOUT"
ENV_STATEMENT_TIMEOUT = "BOOKING_STATEMENT_TIMEOUT"

#: How long one lock wait may last before the write gives up as Busy (55P03), and how long one
#: statement may run before it is cancelled as Busy (57014): PostgreSQL durations.
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "30s"

_DURATION = re.compile(r"\d{1,9}(ms|s|min)?")


def duration(value: str, name: str) -> str:
    """A PostgreSQL duration for a timeout setting ("500ms", "5s", "2min", "0" for none)."""
    value = value.strip()
    if not _DURATION.fullmatch(value):
        from booking_core.domain.errors import InvalidInput

        raise InvalidInput(f"{name} must be a duration like 500ms, 5s or 2min, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    data_dir: Path
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get(ENV_DATA_DIR) or platformdirs.user_data_dir("booking-core")
        return cls(
            database_url=os.environ.get(ENV_URL) or None,
            data_dir=Path(data_dir),
            lock_timeout=duration(os.environ.get(ENV_LOCK_TIMEOUT) or DEFAULT_LOCK_TIMEOUT, ENV_LOCK_TIMEOUT),
            statement_timeout=duration(
                os.environ.get(ENV_STATEMENT_TIMEOUT) or DEFAULT_STATEMENT_TIMEOUT, ENV_STATEMENT_TIMEOUT
            ),
        )


def sqlalchemy_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+psycopg://; always use psycopg 3."""
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    from booking_core.domain.errors import InvalidInput

    raise InvalidInput(f"{ENV_URL} must be a postgresql:// URL, got {url.split('://')[0]}://")
