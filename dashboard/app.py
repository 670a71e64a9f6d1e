"""The dashboard's entry point (`streamlit run dashboard/app.py`): navigation, then the chosen page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Booking integrity", page_icon=":material/event_available:", layout="wide")

# The pages live in screens/, not pages/: Streamlit serves a pages/ folder on its own, and a deep link
# (/capacity) would then run the page without this entry point, its navigation or its layout.
page = st.navigation(
    [
        st.Page(
            HERE / "screens/overview.py",
            title="Overview",
            icon=":material/dashboard:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            HERE / "screens/capacity.py",
            title="Capacity utilization",
            icon=":material/event_seat:",
            url_path="capacity",
        ),
        st.Page(
            HERE / "screens/cancellations.py",
            title="Cancellation patterns",
            icon=":material/event_busy:",
            url_path="cancellations",
        ),
        st.Page(
            HERE / "screens/waitlists.py",
            title="Waitlists & notifications",
            icon=":material/notifications:",
            url_path="waitlists",
        ),
        st.Page(HERE / "screens/audit.py", title="Audit log", icon=":material/history:", url_path="audit"),
        st.Page(HERE / "screens/integrity.py", title="Integrity", icon=":material/verified:", url_path="integrity"),
        st.Page(HERE / "screens/export.py", title="Export", icon=":material/download:", url_path="export"),
    ]
)
page.run()
