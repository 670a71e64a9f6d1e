"""Personal data (admins): each business's retention policy, its latest retention runs, the erasure log and the
subject access requests answered (docs/personal-data.md).

Nothing here is personal data: ids, counts, staff and times. The queries read the member views of
sql/access.sql under the tables' names (an admin reads every business's, with its name), which join
no customer's name, e-mail address or phone number. Times are shown in UTC, with the zone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from booking_core.reports import personal
from booking_core.reports.personal import CAUSES, KEPT, LIMIT, cleared_text
from dashboard import data

# Human column labels; the time columns are drawn in UTC with the zone.
LABELS = {
    "business": "Business",
    "erase_inactive_after_months": "Erase inactive customers after (months)",
    "purge_payloads_after_days": "Purge delivered notifications' personal parts after (days)",
    "drop_client_after_days": "Drop audit rows' ip addresses and user agents after (days)",
    "updated_at": "Updated at",
    "updated_by": "Updated by",
    "started_at": "When",
    "dry_run": "Dry run",
    "run_by": "Run by",
    "cleared": "Rows cleared",
    "customer_id": "Customer id",
    "erased_at": "When",
    "erased_by": "By",
    "channel": "Channel",
    "cause": "Cause",
    "forced": "Forced",
    "requested_at": "When",
    "answered_by": "Answered by",
}
TIMES = {"updated_at", "started_at", "erased_at", "requested_at"}
WINDOWS = ("erase_inactive_after_months", "purge_payloads_after_days", "drop_client_after_days")


def _yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as drawn: windows ('kept' when none), yes/no, counts as text, causes in words; human labels."""
    df = df.copy()
    for col in WINDOWS:
        if col in df:
            df[col] = [KEPT if pd.isna(v) else str(int(v)) for v in df[col]]
    for col in ("dry_run", "forced"):
        if col in df:
            df[col] = df[col].map(_yes_no)
    if "cleared" in df:
        df["cleared"] = df["cleared"].map(cleared_text)
    if "cause" in df:
        df["cause"] = df["cause"].map(lambda c: CAUSES.get(c, c))
    return df.rename(columns=LABELS)


def _table(df: pd.DataFrame) -> None:
    config: dict[str, Any] = {
        LABELS[c]: st.column_config.DatetimeColumn(LABELS[c], format="YYYY-MM-DD HH:mm z", timezone="UTC")
        for c in df.columns
        if c in TIMES
    }
    st.dataframe(readable(df), hide_index=True, column_config=config)


def _section(title: str, df: pd.DataFrame, empty: str, caption: str | None = None) -> None:
    st.subheader(title)
    if df.empty:
        st.info(empty)
        return
    _table(df)
    if caption:
        st.caption(caption)


def render() -> None:
    st.title("Personal data")
    st.caption(
        "Every business's retention, erasures and subject access requests. No customer's name or contact details "
        "are shown: customers by id only. Times in UTC."
    )
    _section(
        "Retention policies",
        data.query(personal.policies),
        "No business has a retention policy yet, so all personal data is kept: "
        "`booking retention set --business ... --erase-inactive-months 24`.",
        "A business not listed has no policy: its personal data is kept. Change one with `booking retention set`.",
    )
    _section(
        "Latest retention runs",
        data.query(personal.runs),
        "No retention run yet: `booking retention run` (schedule it daily; `--dry-run` only counts).",
        f"Newest first (up to {LIMIT}). A dry run's rows are what it would have cleared.",
    )
    _section(
        "Erasures",
        data.query(personal.erasures),
        "No erasures yet: `booking customers erase --business ... --id ...`.",
        f"Newest first (up to {LIMIT}); the whole log: `booking customers erasures`.",
    )
    _section(
        "Subject access requests",
        data.query(personal.requests),
        "No subject access request answered yet: `booking customers export-data --business ... --id ...`.",
        f"Newest first (up to {LIMIT}).",
    )
    st.caption(f"Figures are cached for up to {data.TTL_SECONDS} s.")


data.guarded(render)
