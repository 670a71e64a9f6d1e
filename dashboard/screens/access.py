"""Access (admins): who is a member of which business in which role, every grant and revoke, and who looked
at personal data or exported booking history."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from booking_core.reports import access
from dashboard import data

# Column labels of the three tables; the time columns are drawn with their zone.
LABELS = {
    "person": "Person",
    "role": "Role",
    "business": "Business",
    "granted_by": "Granted by",
    "granted_at": "Granted at",
    "at": "When",
    "what": "What",
    "filter": "Filter",
    "rows": "Rows",
    "change": "Change",
    "changed_by": "By",
    "channel": "Channel",
    "reason": "Reason",
}
TIMES = {"granted_at", "at"}


def _table(df: pd.DataFrame) -> None:
    config: dict[str, Any] = {
        c: st.column_config.DatetimeColumn(LABELS[c], format="YYYY-MM-DD HH:mm:ss z") if c in TIMES else LABELS[c]
        for c in df.columns
    }
    st.dataframe(df, hide_index=True, column_config=config)


def render() -> None:
    st.title("Access")
    st.caption("Memberships are changed with `booking users grant|revoke`; every change is recorded below.")
    st.subheader("Memberships")
    _table(data.query(access.memberships))
    st.subheader("Who looked")
    looks = data.query(access.looks)
    if looks.empty:
        st.info("Nobody has exported booking history or viewed customers' personal data yet.")
    else:
        _table(looks)
    st.subheader("Changes to memberships")
    _table(data.query(access.membership_changes))
    st.caption(f"Figures are cached for up to {data.TTL_SECONDS} s.")


data.guarded(render)
