"""Audit log: filter by booking, actor, action, channel and time; a booking's timeline with before/after diffs;
the state of the business's audit hash chain."""

from __future__ import annotations

import uuid

import streamlit as st
from dashboard.views import timeline_diffs

from booking_core.reports.analytics import AuditFilter
from dashboard import data, filters

ACTOR_TYPES = ("", "customer", "admin", "system", "database")
CHANNELS = ("", "api", "ui", "cli", "batch", "sql")


def _booking_param() -> uuid.UUID | None:
    raw = st.text_input("Booking id", value=st.query_params.get("booking", ""), key="a_booking").strip()
    if not raw:
        st.query_params.pop("booking", None)
        return None
    try:
        booking = uuid.UUID(raw)
    except ValueError:
        st.warning(f"{raw!r} is not a booking id (a UUID): showing every booking.")
        return None
    st.query_params["booking"] = str(booking)
    return booking


def _filter() -> AuditFilter:
    cols = st.columns([3, 2, 2, 2, 2])
    with cols[0]:
        booking = _booking_param()
    actor_type = cols[1].selectbox("Actor type", ACTOR_TYPES, format_func=lambda a: a or "any", key="a_type")
    actor_id = cols[2].text_input("Actor id", key="a_actor").strip()
    action = cols[3].text_input("Action starts with", placeholder="booking.status", key="a_action").strip()
    channel = cols[4].selectbox("Channel", CHANNELS, format_func=lambda c: c or "any", key="a_channel")
    return AuditFilter(
        booking_id=booking,
        actor_type=actor_type or None,
        actor_id=actor_id or None,
        action=action or None,
        channel=channel or None,
    )


def _timeline(sel: filters.Selection, booking: uuid.UUID) -> None:
    st.subheader(f"Timeline of booking {booking}")
    timeline = data.query("booking_timeline", sel.scope.business_id, booking)
    if timeline.empty:
        st.info("This business has no audit rows for that booking.")
        return
    diffs = timeline_diffs(timeline)
    st.metric("Changes recorded", f"{len(timeline):,}")
    st.dataframe(diffs, hide_index=True, column_config={"when": f"when ({sel.timezone})"})


def _chain(sel: filters.Selection) -> None:
    st.subheader("Audit hash chain")
    # Walking the chain reads every sealed row, so it runs when asked, not on every visit.
    if not st.button("Verify the chain", key="a_verify"):
        st.caption("Verification walks every sealed audit row of the business.")
        return
    state = data.query("audit_chain_state", sel.scope.business_id)
    cols = st.columns(3)
    cols[0].metric("Links", f"{state['links']:,}")
    cols[1].metric("Unsealed rows", f"{state['unsealed']:,}")
    cols[2].metric("Chain", "intact" if state["first_bad_seq"] is None else "BROKEN")
    if state["first_bad_seq"] is not None:
        st.error(f"Broken at link {state['first_bad_seq']}: {state['problem']}")


def render(sel: filters.Selection) -> None:
    where = _filter()
    if where.booking_id is not None:
        _timeline(sel, where.booking_id)
    rows = data.query("audit_log", sel.scope, where)
    st.subheader("Audit rows (newest first, at most 500)")
    if rows.empty:
        st.info("No audit rows match these filters in this date range.")
    else:
        business = sel.scope.business_id
        rows = rows.assign(
            timeline=[f"audit?business={business}&booking={b}" if b is not None else None for b in rows["booking_id"]]
        )
        st.dataframe(
            rows,
            hide_index=True,
            column_config={
                "occurred_local": f"when ({sel.timezone})",
                "timeline": st.column_config.LinkColumn("timeline", display_text="open timeline"),
            },
        )
    _chain(sel)


filters.page("Audit log", render)
