"""The dashboard's entry point (`streamlit run dashboard/app.py`): navigation, then the chosen page.

Every page has a stable URL path (/overview, /capacity, /cancellations, /waitlists, /audit, /integrity,
/export, /access, /personal-data) that works as a deep link on first load, once the person has logged in
(dashboard/auth.py). The navigation offers the pages of the person's roles; what each page shows is
decided by the database, which reads as that person. Streamlit serves its default page at the root URL only
(a default page's url_path is ignored), so the default here is a hidden page that forwards the root URL
to /overview, query string (the shared filters) included.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import auth, data

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Booking integrity", page_icon=":material/event_available:", layout="wide")
reader = auth.require_reader()  # the login page (and a stop) until someone with a membership logs in
st.session_state[data.PERSON_KEY] = reader.person

# The pages live in screens/, not pages/: Streamlit serves a pages/ folder on its own, and a deep link
# (/capacity) would then run the page without this entry point, its navigation or its layout.
MANAGER, OPS, ANALYST, ADMIN = "manager", "ops", "analyst", "admin"
# Each page (its screen, title, icon, URL path) and the roles it is for: managers read everything
# of their businesses, ops integrity and health, analysts history and exports; admins manage access.
SCREENS = [
    ("overview", "Overview", "dashboard", "overview", (MANAGER, OPS, ANALYST)),
    ("capacity", "Capacity utilization", "event_seat", "capacity", (MANAGER, OPS, ANALYST)),
    ("cancellations", "Cancellation patterns", "event_busy", "cancellations", (MANAGER, ANALYST)),
    ("waitlists", "Waitlists & notifications", "notifications", "waitlists", (MANAGER, OPS)),
    ("audit", "Audit log", "history", "audit", (MANAGER, OPS, ANALYST)),
    ("integrity", "Integrity", "verified", "integrity", (MANAGER, OPS)),
    ("export", "Export", "download", "export", (MANAGER, ANALYST)),
    ("access", "Access", "admin_panel_settings", "access", (ADMIN,)),
    ("personal_data", "Personal data", "privacy_tip", "personal-data", (ADMIN,)),
]
PAGES = [
    (st.Page(HERE / f"screens/{screen}.py", title=title, icon=f":material/{icon}:", url_path=path), roles)
    for screen, title, icon, path, roles in SCREENS
]
MINE = [page for page, roles in PAGES if reader.may(*roles)]


def _to_first_page() -> None:
    st.switch_page(MINE[0], query_params=st.query_params.to_dict())


ROOT = st.Page(_to_first_page, title="Overview", url_path="home", default=True, visibility="hidden")
auth.sidebar(reader)
st.navigation([ROOT, *MINE]).run()
