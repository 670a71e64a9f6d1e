"""The database handle: engine, migrations, the change context and the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row
from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, text

from booking_core.adapters.errors import DatabaseException, database_errors, is_disconnect, translate
from booking_core.config import DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Settings, duration, sqlalchemy_url
from booking_core.domain.errors import DatabaseUnavailable
from booking_core.domain.values import Actor, new_id, require_aware
from booking_core.sql import apply_definitions, stale_areas

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BASELINE = "0001_baseline"
# The revisions the baseline replaced: a database at the last of them upgrades from the baseline.
SQUASHED = (
    "0001_core",
    "0002_integrity_and_refusals",
    "0003_check_indexes",
    "0004_beyond_single",
    "0005_outbox",
    "0006_slot_keys",
    "0007_booking_create_multi",
    "0008_money_and_history",
    "0009_lock_order",
    "0010_idempotency",
)
SQUASHED_HEAD = SQUASHED[-1]


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _restamp_squashed(conn: Connection) -> None:
    """A database at the last revision before the squash continues from the baseline that replaced it."""
    current = MigrationContext.configure(conn).get_current_revision()
    if current == SQUASHED_HEAD:
        conn.execute(text("UPDATE alembic_version SET version_num = :baseline"), {"baseline": BASELINE})
    elif current is not None and current in SQUASHED:
        raise DatabaseUnavailable(
            f"the database schema is at revision {current}, older than the migrations this release carries:"
            f" upgrade it to {SQUASHED_HEAD} with an earlier release first"
        )


class Database:
    """One PostgreSQL database: an engine (pooled), and the embedded server if we started one.

    Every connection of the engine carries `lock_timeout` and `statement_timeout` (PostgreSQL
    durations, from Settings / BOOKING_LOCK_TIMEOUT / BOOKING_STATEMENT_TIMEOUT), set once when
    it connects: every path, the one-statement booking included, is bounded at no cost per call.
    """

    def __init__(
        self,
        url: str,
        *,
        server: Any = None,
        pool_size: int = 5,
        lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
        statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT,
        application_name: str = "booking_core",
    ) -> None:
        self.url = sqlalchemy_url(url)
        self.server = server
        self.lock_timeout = duration(lock_timeout, "lock_timeout")
        self.statement_timeout = duration(statement_timeout, "statement_timeout")
        self.engine: Engine = create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=False,
            connect_args={
                "connect_timeout": 10,
                "application_name": application_name,
                "options": f"-c lock_timeout={self.lock_timeout} -c statement_timeout={self.statement_timeout}",
            },
        )
        # Single-statement writes (the booking hot path) run in autocommit: one round trip.
        self.autocommit: Engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kw: Any) -> Database:
        settings = settings or Settings.from_env()
        kw.setdefault("lock_timeout", settings.lock_timeout)
        kw.setdefault("statement_timeout", settings.statement_timeout)
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
        """Run the migrations, then apply the changed area files (booking_core.sql), in one transaction.

        The area files come after the migrations: they are the head's definitions and may use
        anything the migrations build, so a target short of the head gets its tables only (a test
        that needs an older release's database restores one: tests/schema/release.py).
        """
        cfg = alembic_config()
        # A migration's refusal (an audit chain that does not verify, 0014) is a typed error.
        with self.connect() as conn, database_errors(), conn.begin():
            # A migration may wait for its locks and run long: the request timeouts are not for it.
            conn.execute(text("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0"))
            # One migrator at a time, whatever else is connecting.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('booking_core.migrate'))"))
            _restamp_squashed(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if revision in ("head", ScriptDirectory.from_config(cfg).get_current_head()):
                apply_definitions(conn)

    def require_migrated(self) -> None:
        """Refuse a database whose migrations or area files (booking_core.sql) are behind this release."""
        with self.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            stale = stale_areas(conn)
        if current != self.head_revision() or stale:
            raise DatabaseUnavailable("the database schema is not migrated: run `booking db upgrade`")

    # ------------------------------------------------------------------ connections
    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A pooled connection whose database errors arrive as typed booking errors."""
        with database_errors(connecting=True):
            conn = (self.autocommit if autocommit else self.engine).connect()
        try:
            with database_errors():
                yield conn
        finally:
            _close_quietly(conn)

    def run_one(self, sql: str, params: Mapping[str, object], *, actor: Actor | None = None) -> dict[str, object]:
        """One statement in autocommit on the pooled psycopg connection, prepared: the hot path.

        A booking is one statement; SQLAlchemy's execution layer would cost the client more
        CPU than the server spends on it, so this goes straight to psycopg. When the actor
        brings an ip address or user agent, they are set for the statement's audit rows in the
        same round trip (a pipeline: one implicit transaction up to its sync); otherwise the
        statement goes alone. A connection that died is discarded (with every other pooled
        connection opened before it: a restarted server killed them all), never handed out again.
        """
        with database_errors(connecting=True):
            raw = self.engine.raw_connection()
        try:
            pg = raw.driver_connection
            if not isinstance(pg, psycopg.Connection):
                raise RuntimeError("booking_core runs on psycopg 3 connections only")
            try:
                pg.autocommit = True
                with pg.cursor(row_factory=dict_row) as cur:
                    if actor is not None and (actor.ip_address or actor.user_agent):
                        with pg.pipeline():
                            cur.execute(_CLIENT_SQL, (actor.ip_address or "", actor.user_agent or ""), prepare=True)
                            cur.execute(sql, params, prepare=True)
                    else:
                        cur.execute(sql, params, prepare=True)
                    row = cur.fetchone()
                # Back to transactional before the pool hands it to a unit of work.
                pg.autocommit = False
            except psycopg.Error as exc:
                if pg.closed or pg.broken or is_disconnect(exc):
                    self.engine.pool._invalidate(raw, exc)
                else:
                    _reset_quietly(raw, pg)
                raise translate(exc) from exc
        finally:
            _close_quietly(raw)
        if row is None:
            raise RuntimeError("the statement returned no row")
        return dict(row)

    def unit_of_work(self, actor: Actor, *, now: datetime, reason: str | None = None) -> UnitOfWork:
        return UnitOfWork(self, actor, now=now, reason=reason)


# The client's address and agent for the audit rows of the next statement in the same pipeline.
_CLIENT_SQL = "SELECT set_config('booking.ip_address', %s, true), set_config('booking.user_agent', %s, true)"


def _reset_quietly(raw: Any, pg: psycopg.Connection[Any]) -> None:
    """Back to transactional after a refusal; a connection that cannot be reset is discarded."""
    try:
        pg.autocommit = False
    except psycopg.Error:
        raw.invalidate()


def _close_quietly(conn: Any) -> None:
    """Return a connection to the pool; a cleanup that fails never masks what the caller sees.

    (SQLAlchemy already invalidates a connection whose reset fails; this only keeps its error
    from replacing the typed error, or the result, the caller is about to get.)
    """
    try:
        conn.close()
    except DatabaseException:
        with suppress(*DatabaseException):
            conn.invalidate()


_CONTEXT_SQL = text(
    "SELECT set_config('booking.actor_type', :actor_type, true),"
    " set_config('booking.actor_id', :actor_id, true),"
    " set_config('booking.channel', :channel, true),"
    " set_config('booking.reason', :reason, true),"
    " set_config('booking.occurred_at', :occurred_at, true),"
    " set_config('booking.ip_address', :ip, true),"
    " set_config('booking.user_agent', :ua, true)"
)


class UnitOfWork:
    """One transaction with its change context (who, when, why, how); rolls back unless committed.

    Every trigger-written audit row and state transition in it carries this context. Its lock
    waits and statements are bounded by the connection's lock_timeout and statement_timeout.
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
        with database_errors(connecting=True):
            self._conn = self.db.engine.connect()
        try:
            with database_errors():
                self._conn.begin()
            self.set_reason(self.reason)
        except BaseException:
            self.__exit__()
            raise
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

    def execute(self, statement: Executable | str, /, **params: Any) -> CursorResult[Any]:
        with database_errors():
            return self.conn.execute(statement if not isinstance(statement, str) else text(statement), params)

    def insert(self, statement: Executable, business_id: uuid.UUID, /, **params: Any) -> uuid.UUID:
        """Insert one row of a business under a new id; binds :b, :id and :now (this unit's instant) beside `params`."""
        row_id = new_id()
        self.execute(statement, b=business_id, id=row_id, now=self.now, **params)
        return row_id

    def execute_many(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """One statement for many parameter sets (psycopg pipelines them)."""
        if rows:
            with database_errors():
                self.conn.execute(text(sql), rows)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint: released when the block ends, rolled back when it raises."""
        with database_errors():
            sp = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            with database_errors():
                sp.rollback()
            raise
        with database_errors():
            sp.commit()

    def commit(self) -> None:
        with database_errors():
            self.conn.commit()
        self._committed = True

    def __exit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # A connection that died took its transaction with it: the caller gets the error (or
            # the result) of the block, never the rollback's; the dead connection is dropped.
            with suppress(*DatabaseException):
                if not self._committed:
                    conn.rollback()
        finally:
            _close_quietly(conn)
