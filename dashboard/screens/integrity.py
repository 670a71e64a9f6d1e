"""Integrity: the checker's open violations (`?check=&business=`, an alert's link), the latest stored run, history."""

from __future__ import annotations

import re
import uuid

import pandas as pd
import streamlit as st
from dashboard.views import readable

from booking_core.reports import check_runs, violations
from booking_core.reports.common import UUID_RE, booking_ref
from dashboard import charts, data, filters

MAX_LINKS = 20
_UUID = re.compile(UUID_RE, re.IGNORECASE)


def _latest(runs: pd.DataFrame, timezone: str) -> pd.Series:
    last = runs.iloc[0]
    cols = st.columns(4)
    cols[0].metric("Latest run", str(last["status"]))
    started = pd.Timestamp(last["started_at"]).tz_convert(timezone)
    cols[1].metric(
        f"Started ({timezone})", f"{started:%H:%M}", f"{started:%Y-%m-%d}", delta_color="off", delta_arrow="off"
    )
    cols[2].metric("Violations", f"{int(last['violations']):,}", help="All businesses.")
    cols[3].metric("Failing checks", f"{int(last['failing_checks']):,}")
    return last


def _offending(sel: filters.Selection, run_id: uuid.UUID) -> None:
    st.subheader(f"Offending rows of {sel.name}")
    rows = data.query(check_runs.offending_rows, run_id, sel.scope.business_id)
    if rows.empty:
        st.success("The latest run sampled no offending row of this business.")
        return
    filters.record_customers(sel, "integrity", rows)
    rows = filters.with_timeline_links(rows, sel).assign(detail=[readable(d) or None for d in rows["detail"]])
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "slot": f"slot ({sel.timezone})",
            "timeline": st.column_config.LinkColumn("timeline", display_text="open timeline"),
            "detail": st.column_config.JsonColumn("detail"),
        },
    )
    shown = rows.dropna(subset=["booking"]).drop_duplicates("booking").head(MAX_LINKS)
    s = sel.scope
    for r in shown.itertuples():
        st.page_link(
            "screens/audit.py",
            label=f"Timeline of booking {r.booking} ({r.customer})",
            icon=":material/history:",
            query_params={"business": str(s.business_id), "from": f"{s.start}", "to": f"{s.end}", "booking": r.booking},
        )


def _subject(kind: str, subject_id: str) -> str:
    """A subject as the page names things: its kind and reference (`booking 7F3A-91C2`, `slot 0B6F-1C2E`)."""
    return f"{kind} {booking_ref(subject_id)}" if _UUID.fullmatch(subject_id) else f"{kind} {subject_id}"


def _open_violations(sel: filters.Selection) -> None:
    """What `booking checker` holds open for this business (and the link's check): the ids to act on."""
    check = st.query_params.get("check") or None
    st.subheader(f"Open violations of {sel.name}" + (f": {check}" if check else ""))
    rows = data.query(violations.open_violations, check, sel.scope.business_id)
    if rows.empty:
        st.success(
            f"The checker holds no open violation of {check or 'any check'} in {sel.name}."
            " (It keeps them while `booking checker` runs.)"
        )
        return
    counts = rows.groupby("check").size()
    st.caption(", ".join(f"{name}: {n}" for name, n in counts.items()))
    shown = rows.assign(
        subject=[_subject(kind, i) for kind, i in zip(rows["kind"], rows["id"], strict=True)],
        first_seen=rows["first_seen"].dt.tz_convert(sel.timezone),
        last_seen=rows["last_seen"].dt.tz_convert(sel.timezone),
        detail=[readable(d) or None for d in rows["detail"]],
    )[["check", "subject", "first_seen", "last_seen", "detail"]]
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "first_seen": f"first seen ({sel.timezone})",
            "last_seen": f"last seen ({sel.timezone})",
            "detail": st.column_config.JsonColumn("detail"),
        },
    )


def render(sel: filters.Selection) -> None:
    _open_violations(sel)
    runs = data.query(check_runs.latest_check_runs, limit=1)
    if runs.empty:
        st.info("No integrity check run is stored yet: run `booking check`.")
        return
    last = _latest(runs, sel.timezone)
    st.subheader("Checks of the latest run")
    st.dataframe(data.query(check_runs.check_results, last["id"]), hide_index=True)
    if last["status"] == "errored" or int(last["errored_checks"]):
        # An errored run proves nothing: say so, and show the last run in which every check ran.
        good = data.query(check_runs.latest_check_runs, limit=1, complete=True)
        when = "no run has completed yet"
        if not good.empty:
            started = pd.Timestamp(good.iloc[0]["started_at"]).tz_convert(sel.timezone)
            when = (
                f"the last complete run started {started:%Y-%m-%d %H:%M} and found {int(good.iloc[0]['violations']):,}"
            )
            when += " violations (its offending rows are below)"
        st.warning(
            f"The latest run errored ({int(last['errored_checks'])} checks could not run): its results are"
            f" incomplete, not clean. {when[0].upper() + when[1:]}.",
            icon=":material/error:",
        )
        if not good.empty:
            last = good.iloc[0]
    st.subheader("History")
    history = data.query(check_runs.statuses_by_run, runs=30)
    history["started_at"] = history["started_at"].dt.tz_convert(sel.timezone)
    st.plotly_chart(charts.check_history(history, timezone=sel.timezone))
    _offending(sel, last["id"])


filters.page("Integrity", render)
