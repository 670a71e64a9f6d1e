"""Waitlists & notifications: live queues and offers, what became of offers, and how the outbox is delivered."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from dashboard.views import age, pct

from booking_core.reports import deliveries, waitlists
from booking_core.reports.deliveries import DeliveryFigures
from booking_core.reports.waitlists import WaitlistFigures
from dashboard import data, filters


def _waitlist_metrics(w: WaitlistFigures, sel: filters.Selection) -> None:
    cols = st.columns(5)
    cols[0].metric("Waiting entries", f"{w.waiting:,}", help=f"{w.waiting_seats:,} seats wanted; live now, any date.")
    cols[1].metric("Open offers", f"{w.open_offers:,}", help="Offers not yet accepted or expired; live now.")
    cols[2].metric("Seats held by offers", f"{w.offered_seats:,}", help="An open offer holds its seats until it ends.")
    s = sel.scope
    made = f"Offers made {s.start:%Y-%m-%d} to {s.end:%Y-%m-%d} ({sel.timezone})"
    cols[3].metric("Offers accepted / expired", f"{w.accepted:,} / {w.expired:,}", help=f"{made}: {w.offers_made:,}.")
    cols[4].metric("Offer acceptance", pct(w.acceptance_rate), help="Accepted / (accepted + expired), same offers.")


def _table(title: str, rows: pd.DataFrame, *, none: str, good_if_none: bool, columns: dict[str, Any]) -> None:
    """A subheader and its table (columns renamed by `columns`), or the notice `none` when it is empty."""
    st.subheader(title)
    if rows.empty:
        (st.success if good_if_none else st.info)(none)
    else:
        st.dataframe(rows, hide_index=True, column_config=columns)


def _queues(sel: filters.Selection) -> None:
    local = f"({sel.timezone})"
    _table(
        f"Longest queues {local}",
        data.query(waitlists.longest_queues, sel.scope),
        none="Nobody is waiting for a slot of this business right now.",
        good_if_none=False,
        columns={
            "slot_date": f"slot date {local}",
            "slot_time": f"slot time {local}",
            "first_joined": st.column_config.DatetimeColumn(f"first joined {local}", format="YYYY-MM-DD HH:mm"),
        },
    )


def _waitlists(sel: filters.Selection) -> None:
    st.header("Waitlists")
    w = data.query(waitlists.waitlist_figures, sel.scope)
    if w.waiting == w.open_offers == w.offers_made == 0:
        st.info("No waitlist activity: nobody is waiting or holding an offer, and no offer was made in this range.")
        return
    _waitlist_metrics(w, sel)
    _queues(sel)


def _delivery_metrics(d: DeliveryFigures) -> None:
    cols = st.columns(6)
    cols[0].metric("Pending", f"{d.pending:,}", help="Notifications not yet delivered nor dead; live now.")
    cols[1].metric("Due now", f"{d.due:,}", help="Pending and past their next attempt time.")
    cols[2].metric("Oldest due", age(d.oldest_due_seconds), help="How long the oldest due message has waited.")
    cols[3].metric("Delivered", f"{d.delivered:,}", help="Messages delivered in the date range.")
    cols[4].metric("Dead", f"{d.dead:,}", help="Messages given up in the date range (kept, never deleted).")
    cols[5].metric(
        "Delivery success", pct(d.success_ratio), help=f"Delivered attempts / all {d.attempts:,} attempts in the range."
    )


def _circuits(sel: filters.Selection) -> None:
    st.subheader("Circuit per webhook endpoint")
    circuits = data.query(deliveries.notification_circuits)
    if circuits.empty:
        st.info("No dispatcher has saved a circuit yet: start one with `booking notify`.")
        return
    for col in ("opened_at", "retry_at", "updated_at"):
        circuits[col] = pd.to_datetime(circuits[col], utc=True).dt.tz_convert(sel.timezone)
    st.caption(f"All businesses share a dispatcher's endpoint; times in {sel.timezone}.")
    st.dataframe(circuits, hide_index=True)


def _failures(sel: filters.Selection) -> None:
    _table(
        f"Latest failed attempts ({sel.timezone})",
        data.query(deliveries.failed_attempts, sel.scope),
        none="No delivery attempt failed in this date range.",
        good_if_none=True,
        columns={"attempted": f"attempted ({sel.timezone})"},
    )


def _notifications(sel: filters.Selection) -> None:
    st.header("Notification delivery")
    d = data.query(deliveries.delivery_figures, sel.scope)
    if d.pending == d.delivered == d.dead == d.attempts == 0:
        st.info("No notification is pending, and none was delivered or given up in this date range.")
    else:
        _delivery_metrics(d)
        _failures(sel)
    _circuits(sel)


def render(sel: filters.Selection) -> None:
    _waitlists(sel)
    _notifications(sel)


filters.page("Waitlists & notifications", render)
