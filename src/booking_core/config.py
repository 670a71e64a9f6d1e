"""Settings from the environment: which database, where the embedded server keeps its data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_URL = "BOOKING_DATABASE_URL"
ENV_DATA_DIR = "BOOKING_DATA_DIR"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    data_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get(ENV_DATA_DIR) or platformdirs.user_data_dir("booking-core")
        return cls(database_url=os.environ.get(ENV_URL) or None, data_dir=Path(data_dir))


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
