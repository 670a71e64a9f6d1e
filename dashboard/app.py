"""The dashboard's entry point (`streamlit run dashboard/app.py`): navigation, then the chosen page.

Every page has a stable URL path (/overview, /capacity, /cancellations, /waitlists, /audit, /integrity,
/export) that works as a deep link on first load. Streamlit serves its default page at the root URL only
(a default page's url_path is ignored), so the default here is a hidden page that forwards the root URL
to /overview, query string (the shared filters) included.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Booking integrity", page_icon=":material/event_available:", layout="wide")

# The pages live in screens/, not pages/: Streamlit serves a pages/ folder on its own, and a deep link
# (/capacity) would then run the page without this entry point, its navigation or its layout.
PAGES = [
    st.Page(HERE / "screens/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview"),
    st.Page(
        HERE / "screens/capacity.py", title="Capacity utilization", icon=":material/event_seat:", url_path="capacity"
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


def _to_overview() -> None:
    st.switch_page(PAGES[0], query_params=st.query_params.to_dict())


ROOT = st.Page(_to_overview, title="Overview", url_path="home", default=True, visibility="hidden")

st.navigation([ROOT, *PAGES]).run()
