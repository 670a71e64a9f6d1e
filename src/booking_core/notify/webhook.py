"""The webhook endpoint: URL validation (http/https only) and one JSON POST per message.

The URL's path is treated as a secret (a Make.com scenario URL is its own credential), so
only `endpoint` (scheme://host:port) is ever logged, stored or printed.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from booking_core.domain.errors import InvalidInput

USER_AGENT = "booking-core-notify/0.1"
# A kept-alive connection the receiver closed while idle fails on reuse: resend once at once.
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class InvalidWebhookUrl(InvalidInput):
    """The webhook URL is not an absolute http:// or https:// URL."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """A validated webhook URL."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, sent as the request target

    @property
    def endpoint(self) -> str:
        """scheme://host:port: safe to log and store (never the secret path)."""
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_webhook(url: str) -> Webhook:
    """Validate a webhook URL; InvalidWebhookUrl (one line) unless it is an absolute http(s) URL."""
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}://" if scheme else "no scheme"
        raise InvalidWebhookUrl(
            f"webhook URL must start with http:// or https://, got {shown}: pass the receiver's http(s) URL"
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise InvalidWebhookUrl("webhook URL has an invalid port: use http(s)://host:port/path") from None
    if not parts.hostname:
        raise InvalidWebhookUrl("webhook URL has no host: use http(s)://host/path")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Webhook(url=url.strip(), scheme=scheme, host=parts.hostname, port=port, target=target)


@dataclass(frozen=True, slots=True)
class SendResult:
    """One POST: the HTTP status if a response came back, the error if it did not succeed."""

    status: int | None
    error: str | None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


class HttpSender:
    """POSTs to one webhook over a kept-alive connection; the timeout bounds the connect and each read."""

    def __init__(self, webhook: Webhook, *, timeout: float) -> None:
        self.webhook = webhook
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            return self._conn, True
        w = self.webhook
        if w.scheme == "https":
            ctx = ssl.create_default_context()
            self._conn = http.client.HTTPSConnection(w.host, w.port, timeout=self.timeout, context=ctx)
        else:
            self._conn = http.client.HTTPConnection(w.host, w.port, timeout=self.timeout)
        return self._conn, False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _exchange(self, body: bytes, headers: dict[str, str]) -> int:
        conn, reused = self._connection()
        try:
            conn.request("POST", self.webhook.target, body=body, headers=headers)
            response = conn.getresponse()
        except _STALE_CONNECTION:
            self.close()
            if not reused:
                raise
            conn, _ = self._connection()
            conn.request("POST", self.webhook.target, body=body, headers=headers)
            response = conn.getresponse()
        response.read()  # drain, so the connection can carry the next message
        if response.will_close:
            self.close()
        return response.status

    def post(self, body: bytes, headers: dict[str, str]) -> SendResult:
        """POST once; never raises for network or HTTP failures (they are results to log)."""
        all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        started = time.perf_counter()
        try:
            status = self._exchange(body, all_headers)
        except TimeoutError:
            self.close()
            return SendResult(None, f"timed out after {self.timeout:g}s", time.perf_counter() - started)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            return SendResult(None, message, time.perf_counter() - started)
        duration = time.perf_counter() - started
        if 200 <= status < 300:
            return SendResult(status, None, duration)
        return SendResult(status, f"HTTP {status}", duration)
