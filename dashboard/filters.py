"""The filters every page shares (business, local date range, service), kept in the URL so a view can be shared.

Each page draws them first (`page()`); the last choice is kept for the session, so they survive moving
between pages. The URL's query parameters seed them (a shared link) and mirror them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from booking_core.reports import catalogue
from booking_core.reports.common import Scope
from dashboard import data

ALL_SERVICES = ""
_NEW_PAGE = "filters_on_new_page"
DEFAULT_DAYS = 28


@dataclass(frozen=True, slots=True)
class Selection:
    """What the pages show: the scope, and the business's name, time zone and currency."""

    scope: Scope
    name: str
    timezone: str
    currency: str
    frozen: str | None = None  # ops froze the business's writes (`booking freeze`): why, since when, by whom


def _param_date(name: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return None


def _seed(key: str, value: object) -> None:
    """Give a filter widget its value before it is drawn: this session's last choice, else `value` (the URL).

    Streamlit drops a widget's state when the page changes, so the last choice is kept under a key of
    our own (the documented pattern) and handed back on a new page; no default is passed to the widget.
    """
    if key not in st.session_state or st.session_state.get(_NEW_PAGE):
        st.session_state[key] = st.session_state.get(f"kept_{key}", value)


def _keep(key: str) -> None:
    st.session_state[f"kept_{key}"] = st.session_state[key]


def _pick_business(businesses: pd.DataFrame) -> tuple[pd.Series, str | None]:
    """The business to show, and the business a link asked for when it is not one of the person's."""
    ids = [str(i) for i in businesses["id"]]
    asked = st.query_params.get("business")
    by_name = {str(r.name): str(r.id) for r in businesses.itertuples()}
    wanted = by_name.get(asked, asked) if asked else asked  # an alert's link names the business
    # Row security lists only the person's businesses: any other (or none by that name) is not theirs.
    # The refusal is drawn once: the URL is rewritten to the business shown (sidebar()).
    refused = asked if wanted and wanted not in ids else None
    _seed("f_business", wanted if wanted in ids else ids[0])
    labels = {str(r.id): f"{r.name} ({r.timezone})" for r in businesses.itertuples()}
    chosen = st.sidebar.selectbox("Business", ids, format_func=labels.__getitem__, key="f_business")
    _keep("f_business")
    return businesses.iloc[ids.index(chosen)], refused


def _default_range(business_id: uuid.UUID, timezone: str) -> tuple[date, date]:
    """The four weeks up to today, or up to the last slot when the business has none that recent."""
    today = datetime.now(ZoneInfo(timezone)).date()
    first, last = data.query(catalogue.slot_date_range, business_id)
    end = today if last is None or first is None or first <= today <= last else last
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def _pick_range(business_id: uuid.UUID, timezone: str) -> tuple[date, date] | None:
    start, end = _param_date("from"), _param_date("to")
    if start is None or end is None or end < start:
        start, end = _default_range(business_id, timezone)
    _seed("f_dates", (start, end))
    picked = st.sidebar.date_input(f"Dates ({timezone})", key="f_dates")
    _keep("f_dates")
    if not isinstance(picked, tuple) or len(picked) != 2:
        return None
    return picked[0], picked[1]


def _pick_service(business_id: uuid.UUID) -> uuid.UUID | None:
    svc = data.query(catalogue.services, business_id)
    ids = [ALL_SERVICES, *(str(i) for i in svc["id"])]
    names = dict(zip(ids, ["All services", *svc["name"]], strict=True))
    wanted = st.query_params.get("service", ALL_SERVICES)
    _seed("f_service", wanted if wanted in ids else ALL_SERVICES)
    if st.session_state["f_service"] not in ids:  # the business changed under it
        st.session_state["f_service"] = ALL_SERVICES
    chosen = st.sidebar.selectbox("Service", ids, format_func=names.__getitem__, key="f_service")
    _keep("f_service")
    return uuid.UUID(chosen) if chosen else None


def sidebar(page: str) -> Selection | None:
    """Draw the filters; the selection, or None (with a message) when there is nothing to show yet."""
    st.session_state[_NEW_PAGE] = st.session_state.get("filters_page") != page
    st.session_state["filters_page"] = page
    businesses = data.query(catalogue.businesses)
    if businesses.empty:
        st.info("There are no businesses yet: create one (or run `booking seed`) and reload this page.")
        return None
    biz, refused = _pick_business(businesses)
    business_id = uuid.UUID(str(biz["id"]))
    picked = _pick_range(business_id, biz["timezone"])
    service = _pick_service(business_id)
    st.sidebar.caption(f"All times are {biz['name']}'s local time: **{biz['timezone']}**.")
    if picked is None:
        st.info("Pick the last day of the date range too.")
        return None
    start, end = picked
    st.query_params.update({"business": str(business_id), "from": start.isoformat(), "to": end.isoformat()})
    if service:
        st.query_params["service"] = str(service)
    elif "service" in st.query_params:
        del st.query_params["service"]
    scope = Scope(business_id, start, end, service)
    if refused:
        st.title(page)
        st.error(
            f"The link asks for business {refused!r}, which is not one of yours: nothing of it is shown. "
            f"This page now shows {biz['name']}; choose another of your businesses in the sidebar.",
            icon=":material/block:",
        )
        return None
    return Selection(scope, str(biz["name"]), str(biz["timezone"]), str(biz["currency"]), _frozen(biz))


def _frozen(biz: pd.Series) -> str | None:
    """The write freeze as ops read it on every page of a frozen business, in its local time."""
    if pd.isna(biz["frozen_at"]):
        return None
    since = pd.Timestamp(biz["frozen_at"]).tz_convert(str(biz["timezone"]))
    return (
        f"Writes to {biz['name']} are frozen since {since:%Y-%m-%d %H:%M} by {biz['frozen_by']}: "
        f"{biz['frozen_reason']}. Nothing changes until ops run `booking unfreeze`."
    )


def timeline_url(sel: Selection, booking: str) -> str:
    """The Audit page's URL for a booking's timeline (by its reference), in this business and date range."""
    s = sel.scope
    return f"audit?business={s.business_id}&from={s.start:%Y-%m-%d}&to={s.end:%Y-%m-%d}&booking={booking}"


def with_timeline_links(rows: pd.DataFrame, sel: Selection) -> pd.DataFrame:
    """`rows` with a `timeline` link for each row's booking (its `booking` reference), the id column dropped.

    Queries hand the full id (`booking_id`, text) only for such links; a person reads the reference.
    """
    links = [timeline_url(sel, ref) if isinstance(ref, str) else None for ref in rows["booking"]]
    return rows.drop(columns=["booking_id"]).assign(timeline=links)


PSEUDONYM = "customer-"  # an analyst's view of a customer (sql/access.sql): not personal data


def record_customers(sel: Selection, page: str, rows: pd.DataFrame, column: str = "customer") -> None:
    """Record in access_log that the person was shown customers' names (a manager's view; not ops', not pseudonyms)."""
    names = rows[column].dropna().astype(str) if column in rows else pd.Series(dtype=str)
    if names.empty or names.str.startswith(PSEUDONYM).all():
        return
    s = sel.scope
    look = {"page": page, "business": sel.name, "from": s.start, "to": s.end}
    data.record_look("personal_data", look | ({"service": str(s.service_id)} if s.service_id else {}), len(rows))


def header(title: str, sel: Selection) -> None:
    st.title(title)
    s = sel.scope
    st.caption(f"{sel.name} · {s.start:%Y-%m-%d} to {s.end:%Y-%m-%d} · times in {sel.timezone}")
    if sel.frozen:
        st.warning(sel.frozen, icon=":material/lock:")


def footer(sel: Selection) -> None:
    """The last line of a drawn page (the browser tests and the benchmark wait for it)."""
    read = datetime.now(ZoneInfo(sel.timezone))
    st.caption(
        f"Page drawn at {read:%Y-%m-%d %H:%M} ({sel.timezone}); figures are cached for up to {data.TTL_SECONDS} s."
    )


def page(title: str, render: Callable[[Selection], None]) -> None:
    """A page: the shared filters, a title with the scope and time zone, then `render`, all guarded."""

    def run() -> None:
        sel = sidebar(title)
        if sel is not None:
            header(title, sel)
            render(sel)
            footer(sel)

    data.guarded(run)
