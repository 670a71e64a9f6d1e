"""The database handle: engine, migrations, the change context and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from booking_core.adapters.errors import database_errors, translate
from booking_core.config import Settings, sqlalchemy_url
from booking_core.domain.errors import DatabaseUnavailable
from booking_core.domain.values import Actor, require_aware

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


class Database:
    """One PostgreSQL database: an engine (pooled), and the embedded server if we started one."""

    def __init__(self, url: str, *, server: Any = None, pool_size: int = 5) -> None:
        self.url = sqlalchemy_url(url)
        self.server = server
        self.engine: Engine = create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=False,
            connect_args={"connect_timeout": 10, "application_name": "booking_core"},
        )
        # Single-statement writes (the booking hot path) run in autocommit: one round trip.
        self.autocommit: Engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kw: Any) -> Database:
        settings = settings or Settings.from_env()
        if settings.database_url:
            return cls(settings.database_url, **kw)
        from booking_core.adapters.embedded import start_embedded

        url, server = start_embedded(settings.data_dir)
        return cls(url, server=server, **kw)

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ schema
    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        with self.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self, revision: str = "head") -> None:
        cfg = alembic_config()
        with self.connect() as conn, conn.begin():
            # One migrator at a time, whatever else is connecting.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('booking_core.migrate'))"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def require_migrated(self) -> None:
        if self.current_revision() != self.head_revision():
            raise DatabaseUnavailable("the database schema is not migrated: run `booking db upgrade`")

    # ------------------------------------------------------------------ connections
    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A pooled connection whose database errors arrive as typed booking errors."""
        try:
            conn = (self.autocommit if autocommit else self.engine).connect()
        except DBAPIError as exc:
            raise translate(exc) from exc
        try:
            with database_errors():
                yield conn
        finally:
            conn.close()

    def run_one(self, sql: str, params: dict[str, Any]) -> dict[str, Any]:
        """One statement in autocommit on the pooled psycopg connection, prepared: the hot path.

        A booking is one statement; SQLAlchemy's execution layer would cost the client more
        CPU than the server spends on it, so this goes straight to psycopg.
        """
        try:
            raw = self.engine.raw_connection()
        except DBAPIError as exc:
            raise translate(exc) from exc
        try:
            pg = raw.driver_connection
            if not isinstance(pg, psycopg.Connection):
                raise RuntimeError("booking_core runs on psycopg 3 connections only")
            pg.autocommit = True
            try:
                with pg.cursor(row_factory=dict_row) as cur:
                    row = cur.execute(sql, params, prepare=True).fetchone()
            except psycopg.Error as exc:
                raise translate(exc) from exc
            finally:
                # Back to transactional before the pool hands it to a unit of work.
                pg.autocommit = False
        finally:
            raw.close()
        if row is None:
            raise RuntimeError("the statement returned no row")
        return dict(row)

    def unit_of_work(self, actor: Actor, *, now: datetime, reason: str | None = None) -> UnitOfWork:
        return UnitOfWork(self, actor, now=now, reason=reason)


_CONTEXT_SQL = text(
    "SELECT set_config('booking.actor_type', :actor_type, true),"
    " set_config('booking.actor_id', :actor_id, true),"
    " set_config('booking.channel', :channel, true),"
    " set_config('booking.reason', :reason, true),"
    " set_config('booking.occurred_at', :occurred_at, true),"
    " set_config('booking.ip_address', :ip, true),"
    " set_config('booking.user_agent', :ua, true),"
    " set_config('lock_timeout', '5s', true)"
)


class UnitOfWork:
    """One transaction with its change context (who, when, why, how); rolls back unless committed.

    Every trigger-written audit row and state transition in it carries this context.
    """

    def __init__(self, db: Database, actor: Actor, *, now: datetime, reason: str | None) -> None:
        self.db = db
        self.actor = actor
        self.now = require_aware(now, "now")
        self.reason = reason
        self._conn: Connection | None = None
        self._committed = False

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._conn

    def __enter__(self) -> UnitOfWork:
        try:
            self._conn = self.db.engine.connect()
        except DBAPIError as exc:
            raise translate(exc) from exc
        self._conn.begin()
        self.set_reason(self.reason)
        return self

    def set_reason(self, reason: str | None) -> None:
        a = self.actor
        self.execute(
            _CONTEXT_SQL,
            actor_type=str(a.type),
            actor_id=a.id,
            channel=str(a.channel),
            reason=reason or "",
            occurred_at=self.now.isoformat(),
            ip=a.ip_address or "",
            ua=a.user_agent or "",
        )

    def execute(self, statement: Any, /, **params: Any) -> Any:
        with database_errors():
            return self.conn.execute(statement if not isinstance(statement, str) else text(statement), params)

    def execute_many(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """One statement for many parameter sets (psycopg pipelines them)."""
        if rows:
            with database_errors():
                self.conn.execute(text(sql), rows)

    def commit(self) -> None:
        with database_errors():
            self.conn.commit()
        self._committed = True

    def __exit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not self._committed:
                conn.rollback()
        finally:
            conn.close()
