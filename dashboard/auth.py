"""Who is reading: the OpenID Connect login (Streamlit's `st.login`) and the person's memberships.

The dashboard shows nothing to nobody. `.streamlit/secrets.toml` (or the file `booking demo` writes)
holds the provider in an `[auth]` section; a person is the e-mail address the provider vouches for,
in lower case. What they see is decided in the database: every read runs as `booking_reader` with
the person set (`data.query`), so row security gives only their businesses and the member views
mask personal data by their role there (docs/access.md). The roles here only choose which pages
the navigation offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from booking_core.reports import access
from dashboard import data

ROLE_ORDER = ("admin", "manager", "ops", "analyst")


@dataclass(frozen=True, slots=True)
class Reader:
    person: str
    roles: frozenset[str]  # every role the person holds, in any business

    def may(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def label(self) -> str:
        return ", ".join(r for r in ROLE_ORDER if r in self.roles)


def _login_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all (Streamlit raises a subclass of it)
        return False


def _signed_in_email() -> str | None:
    if not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    return str(email).strip().lower() if email else ""


def require_reader() -> Reader:
    """The logged-in person and their roles; otherwise draw the login (or why there is none) and stop."""
    email = _signed_in_email()
    if email is None:
        st.title("Booking integrity")
        if not _login_configured():
            st.error(
                "Login is not configured, so the dashboard shows nothing: add an `[auth]` section for your "
                "OpenID Connect provider to `.streamlit/secrets.toml` (docs/access.md), or run `booking demo`, "
                "which starts a local provider."
            )
        else:
            st.write("Each person sees only the businesses they are a member of. Log in to continue.")
            st.button("Log in", on_click=st.login, icon=":material/login:", type="primary")
        st.stop()
    if not email:
        _refuse("Your login carries no e-mail address: ask your identity provider to include the `email` claim.")
    roles: list[str] = []
    if not data.guarded(lambda: roles.extend(data.query_as(email, access.my_roles))):
        st.stop()
    if not roles:
        _refuse(
            f"You are signed in as {email}, but you are a member of no business: "
            "ask an admin to grant you a role (`booking users grant`)."
        )
    return Reader(email, frozenset(roles))


def _refuse(message: str) -> None:
    st.title("Booking integrity")
    st.error(message, icon=":material/block:")
    st.button("Log out", on_click=st.logout, icon=":material/logout:")
    st.stop()


def sidebar(reader: Reader) -> None:
    """Who is signed in, as what, and the way out."""
    with st.sidebar:
        st.caption(f"Signed in as {reader.person} ({reader.label()})")
        st.button("Log out", on_click=st.logout, icon=":material/logout:", key="logout")
