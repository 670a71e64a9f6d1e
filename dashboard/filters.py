"""The filters every page shares (business, local date range, service), kept in the URL so a view can be shared.

They are drawn once by app.py, above the page, so they survive moving between pages; the URL's
query parameters seed them when a session starts (a shared link) and mirror them afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from booking_core.reports.analytics import Scope
from dashboard import data

ALL_SERVICES = ""
DEFAULT_DAYS = 28
KEY = "selection"


@dataclass(frozen=True, slots=True)
class Selection:
    """What the pages show: the scope, and the business's name, time zone and currency."""

    scope: Scope
    name: str
    timezone: str
    currency: str


def _param_date(name: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return None


def _pick_business(businesses: pd.DataFrame) -> pd.Series:
    ids = [str(i) for i in businesses["id"]]
    wanted = st.query_params.get("business")
    labels = {str(r.id): f"{r.name} ({r.timezone})" for r in businesses.itertuples()}
    chosen = st.sidebar.selectbox("Business", ids, index=ids.index(wanted) if wanted in ids else 0,
                                  format_func=labels.__getitem__, key="f_business")  # fmt: skip
    return businesses.iloc[ids.index(chosen)]


def _default_range(business_id: uuid.UUID, timezone: str) -> tuple[date, date]:
    """The four weeks up to today, or up to the last slot when the business has none that recent."""
    today = datetime.now(ZoneInfo(timezone)).date()
    first, last = data.query("slot_date_range", business_id)
    end = today if last is None or first is None or first <= today <= last else last
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def _pick_range(business_id: uuid.UUID, timezone: str) -> tuple[date, date] | None:
    start, end = _param_date("from"), _param_date("to")
    if start is None or end is None or end < start:
        start, end = _default_range(business_id, timezone)
    picked = st.sidebar.date_input(f"Dates ({timezone})", value=(start, end), key="f_dates")
    if not isinstance(picked, tuple) or len(picked) != 2:
        return None
    return picked[0], picked[1]


def _pick_service(business_id: uuid.UUID) -> uuid.UUID | None:
    svc = data.query("services", business_id)
    ids = [ALL_SERVICES, *(str(i) for i in svc["id"])]
    names = dict(zip(ids, ["All services", *svc["name"]], strict=True))
    wanted = st.query_params.get("service", ALL_SERVICES)
    chosen = st.sidebar.selectbox("Service", ids, index=ids.index(wanted) if wanted in ids else 0,
                                  format_func=names.__getitem__, key="f_service")  # fmt: skip
    return uuid.UUID(chosen) if chosen else None


def sidebar() -> None:
    """Draw the filters and remember the selection (None when there is nothing to show yet)."""
    st.session_state[KEY] = None
    businesses = data.query("businesses")
    if businesses.empty:
        st.info("There are no businesses yet: create one (or run `booking seed`) and reload this page.")
        return
    biz = _pick_business(businesses)
    business_id = uuid.UUID(str(biz["id"]))
    picked = _pick_range(business_id, biz["timezone"])
    service = _pick_service(business_id)
    st.sidebar.caption(f"All times are {biz['name']}'s local time: **{biz['timezone']}**.")
    if picked is None:
        st.info("Pick the last day of the date range too.")
        return
    start, end = picked
    st.query_params.update({"business": str(business_id), "from": start.isoformat(), "to": end.isoformat()})
    if service:
        st.query_params["service"] = str(service)
    elif "service" in st.query_params:
        del st.query_params["service"]
    scope = Scope(business_id, start, end, service)
    st.session_state[KEY] = Selection(scope, str(biz["name"]), str(biz["timezone"]), str(biz["currency"]))


def current() -> Selection | None:
    sel = st.session_state.get(KEY)
    return sel if isinstance(sel, Selection) else None


def header(title: str, sel: Selection) -> None:
    st.title(title)
    s = sel.scope
    st.caption(f"{sel.name} · {s.start:%Y-%m-%d} to {s.end:%Y-%m-%d} · times in {sel.timezone}")
