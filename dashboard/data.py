"""How the dashboard reads: one read-only engine per database URL, named queries cached with a short TTL."""

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
from booking_core.reports.engine import readonly_engine

# Short enough that a manager sees a new booking within half a minute, long enough that
# moving between pages and filters does not re-run the same aggregation.
TTL_SECONDS = 30
MISSING_SCHEMA = {"42P01", "42883"}
P = ParamSpec("P")
T = TypeVar("T")


def database_url() -> str:
    url = os.environ.get(ENV_URL)
    if not url:
        raise DatabaseUnavailable(f"{ENV_URL} is not set: start the dashboard with `booking dashboard`")
    return url


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return readonly_engine(url)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _query(url: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    # By name, so the cache key is the query's module and function, never a function object.
    module, _, function = name.rpartition(".")
    fn = getattr(importlib.import_module(module), function)

    def read() -> Any:
        with database_errors(), _engine(url).connect() as conn:
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
    """Run a read query of booking_core.reports (cached per URL, query and arguments)."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    return cast(T, _query(database_url(), name, args, tuple(sorted(kwargs.items()))))


def now_minute() -> datetime:
    """The current minute: 'future' queries stay cacheable within a minute."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def guarded(render: Callable[[], None]) -> None:
    """Render a page; a database or input problem becomes one clear message, never a traceback."""
    try:
        render()
    except DatabaseUnavailable as exc:
        st.error(f"The database cannot be reached: {exc}", icon=":material/cloud_off:")
    except BookingError as exc:
        if exc.context.get("sqlstate") in MISSING_SCHEMA:
            st.error("The database has no booking schema yet: run `booking db upgrade`.")
        else:
            st.error(str(exc))
