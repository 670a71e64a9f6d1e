"""The demo's login: a local OpenID Connect provider with a manager, an ops engineer and an analyst per
business, and an admin, so that `booking demo` shows what each person sees (docs/access.md).

The provider is oidc-provider-mock, a provider for testing: its login form lists the demo's people and
asks for no password. A real deployment names its own provider in `.streamlit/secrets.toml`
(docs/access.md, "Logging in"); nothing else changes.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from booking_core.domain.errors import NothingToChange
from booking_core.domain.values import Actor

DOMAIN = "demo.test"  # a reserved top-level domain: no demo address can reach anyone
ADMIN = f"admin@{DOMAIN}"
ROLES = ("manager", "ops", "analyst")
CLIENT_ID = "booking-dashboard"


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    role: str
    business: str | None  # the business's name; None for the admin

    def describe(self) -> str:
        return f"{self.email} ({self.role}" + (f" of {self.business})" if self.business else " of memberships)")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "business"


def demo_people(businesses: list[tuple[uuid.UUID, str]]) -> list[tuple[Person, uuid.UUID | None]]:
    """Each business's manager, ops engineer and analyst, then the admin (with the business each holds)."""
    people: list[tuple[Person, uuid.UUID | None]] = [
        (Person(f"{role}.{_slug(name)}@{DOMAIN}", role, name), business_id)
        for business_id, name in businesses
        for role in ROLES
    ]
    return [*people, (Person(ADMIN, "admin", None), None)]


def grant_demo_memberships(database_url: str) -> list[Person]:
    """Grant the demo's people their memberships (again on a restart: already granted is fine)."""
    from booking_core.bootstrap import connect

    with connect(database_url) as system:
        with system.db.connect() as conn:
            businesses = [
                (r[0], str(r[1])) for r in conn.execute(text("SELECT id, name FROM businesses ORDER BY name"))
            ]
        people = demo_people(businesses)
        for person, business_id in people:
            with contextlib.suppress(NothingToChange):  # granted by an earlier start
                system.set_membership(
                    person=person.email,
                    role=person.role,
                    business_id=business_id,
                    reason="booking demo: a person of each role",
                    actor=Actor.system("booking-demo"),
                )
    return [p for p, _b in people]


def start_provider(host: str, port: int, people: list[Person]) -> tuple[str, Callable[[], None]]:
    """Serve the provider on host:port in a thread, its login form listing `people`; (its URL, stop)."""
    import oidc_provider_mock
    import werkzeug.serving

    users = [oidc_provider_mock.User(sub=p.email, claims={"email": p.email, "name": p.describe()}) for p in people]
    app = oidc_provider_mock.app(user_claims=users)
    server = werkzeug.serving.make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="demo-login")
    thread.daemon = True
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{port}", stop


def write_secrets(path: Path, dashboard_url: str, provider_url: str) -> Path:
    """The dashboard's `[auth]` settings for the demo's provider (a fresh cookie secret each start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `booking demo` for its local provider; a deployment's is .streamlit/secrets.toml.\n"
        "[auth]\n"
        f'redirect_uri = "{dashboard_url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        'client_secret = "demo-only"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path
