"""The dashboard's entry point (`streamlit run dashboard/app.py`): navigation, then the chosen page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Booking integrity", page_icon=":material/event_available:", layout="wide")

# Navigation comes first: without it Streamlit would fall back to listing pages/ on its own.
page = st.navigation(
    [
        st.Page(HERE / "pages/overview.py", title="Overview", icon=":material/dashboard:",
                url_path="overview", default=True),
        st.Page(HERE / "pages/capacity.py", title="Capacity utilization", icon=":material/event_seat:",
                url_path="capacity"),
        st.Page(HERE / "pages/cancellations.py", title="Cancellation patterns",
                icon=":material/event_busy:", url_path="cancellations"),
        st.Page(HERE / "pages/audit.py", title="Audit log", icon=":material/history:", url_path="audit"),
        st.Page(HERE / "pages/integrity.py", title="Integrity", icon=":material/verified:",
                url_path="integrity"),
        st.Page(HERE / "pages/export.py", title="Export", icon=":material/download:", url_path="export"),
    ]
)  # fmt: skip
page.run()
