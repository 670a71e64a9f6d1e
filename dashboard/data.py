"""How the dashboard reads: as the logged-in person, one engine per database URL, named queries cached briefly.

Every read runs as booking_reader with the person set for its transaction: row security gives only
their businesses, the member views mask personal data by their role (docs/access.md). The person is
part of every cache key, so one person's figures are never served to another.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import pandas as pd
import streamlit as st
from sqlalchemy import Connection, Engine

from booking_core import retries
from booking_core.adapters.errors import database_errors
from booking_core.config import ENV_URL
from booking_core.domain.errors import BookingError, DatabaseUnavailable
from booking_core.reports.engine import READER_ROLE, as_person, readonly_engine

# Short enough that a manager sees a new booking within half a minute, long enough that
# moving between pages and filters does not re-run the same aggregation.
TTL_SECONDS = 30
MISSING_SCHEMA = {"42P01", "42883"}
PERSON_KEY = "person"  # the session's logged-in person (st.session_state)
P = ParamSpec("P")
T = TypeVar("T")


def database_url() -> str:
    url = os.environ.get(ENV_URL)
    if not url:
        raise DatabaseUnavailable(f"{ENV_URL} is not set: start the dashboard with `booking dashboard`")
    return url


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return readonly_engine(url, role=READER_ROLE)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _query(url: str, person: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    # By name, so the cache key is the query's module and function, never a function object.
    module, _, function = name.rpartition(".")
    fn = getattr(importlib.import_module(module), function)

    def read() -> Any:
        with database_errors(), _engine(url).connect() as conn:
            as_person(conn, person)
            return fn(conn, *args, **dict(kwargs))

    # Reads are idempotent: a lost connection or a restarting server is retried (bounded,
    # jittered), as the library does; what still fails reaches `guarded` as one message.
    result = retries.call(read, (), {}, policy=retries.DEFAULT_POLICY, idempotent=True)
    return _no_uuid_objects(result) if isinstance(result, pd.DataFrame) else result


def _no_uuid_objects(df: pd.DataFrame) -> pd.DataFrame:
    """A last guard: a UUID object a query let through becomes text (a browser table shows it as bytes).

    The queries already give names and references (the tests hold them to it); this keeps a new
    column from ever reaching a person as a dict of bytes.
    """
    for col in [c for c, t in df.dtypes.items() if t == "object"]:
        if df[col].map(lambda v: isinstance(v, uuid.UUID)).any():
            df[col] = df[col].map(lambda v: str(v) if isinstance(v, uuid.UUID) else v)
    return df


def query(fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a read query of booking_core.reports as the session's person (cached per URL, person, query, arguments)."""
    return query_as(person(), fn, *args, **kwargs)


def person() -> str:
    """The person of this session: set by app.py from the login (dashboard/auth.py) before any page runs."""
    who = st.session_state.get(PERSON_KEY)
    if not isinstance(who, str) or not who:
        raise RuntimeError("no person: pages run through dashboard/app.py, which logs the person in first")
    return who


def query_as(person: str, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`query` for a given person (the login itself, before the session knows its reader)."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    return cast(T, _query(database_url(), person, name, args, tuple(sorted(kwargs.items()))))


def record_look(what: str, filter_: dict[str, object], rows: int) -> None:
    """Record in access_log that the session's person looked at `rows` rows of personal data (or an export).

    Once per session for the same look: a page redrawn by a click is not a new look.
    """
    import json

    from sqlalchemy import text

    who = person()
    key = json.dumps([what, filter_, rows], sort_keys=True, default=str)
    seen = st.session_state.setdefault("looks_recorded", set())
    if key in seen:
        return
    with database_errors(), _engine(database_url()).connect() as conn:
        conn.execute(text("SET TRANSACTION READ WRITE"))
        as_person(conn, who)
        conn.execute(
            text("SELECT record_look(:what, CAST(:filter AS jsonb), :rows)"),
            {"what": what, "filter": json.dumps(filter_, default=str), "rows": rows},
        )
        conn.commit()
    seen.add(key)


def now_minute() -> datetime:
    """The current minute: 'future' queries stay cacheable within a minute."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def guarded(render: Callable[[], None]) -> bool:
    """Render a page; a database or input problem becomes one clear message, never a traceback (and False)."""
    try:
        render()
    except DatabaseUnavailable as exc:
        st.error(f"The database cannot be reached: {exc}", icon=":material/cloud_off:")
    except BookingError as exc:
        if exc.context.get("sqlstate") in MISSING_SCHEMA:
            st.error("The database has no booking schema yet: run `booking db upgrade`.")
        else:
            st.error(str(exc))
    else:
        return True
    return False
