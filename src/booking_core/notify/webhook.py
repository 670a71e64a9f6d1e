"""The webhook endpoint: URL validation (http/https only) and one JSON POST per message, sent with httpx.

The URL's path is treated as a secret (a Make.com scenario URL is its own credential), so
only `endpoint` (scheme://host:port) is ever logged, stored or printed.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from booking_core.domain.errors import InvalidInput

USER_AGENT = "booking-core-notify/0.1"
# A kept-alive connection the receiver closed just as it was reused fails at once: resend once.
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


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
    """POSTs to one webhook through an httpx client that keeps its connection alive between messages.

    The timeout bounds the connect, each write and each read. No proxy settings or .netrc from the
    environment are used: the receiver is reached directly, with the system's certificate store.
    """

    def __init__(self, webhook: Webhook, *, timeout: float) -> None:
        self.webhook = webhook
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._kept_alive = False  # the last exchange left an open connection to reuse

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": USER_AGENT},
                verify=ssl.create_default_context(),
                trust_env=False,
            )
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        self._kept_alive = False
        if client is not None:
            client.close()

    def _exchange(self, body: bytes, headers: dict[str, str]) -> int:
        reused = self._kept_alive
        self._kept_alive = False
        try:
            response = self._http().post(self.webhook.url, content=body, headers=headers)
        except _STALE_CONNECTION:
            self.close()
            if not reused:
                raise
            response = self._http().post(self.webhook.url, content=body, headers=headers)
        self._kept_alive = response.headers.get("Connection", "").lower() != "close"
        return response.status_code

    def post(self, body: bytes, headers: dict[str, str]) -> SendResult:
        """POST once; never raises for network or HTTP failures (they are results to log)."""
        all_headers = {"Content-Type": "application/json", **headers}
        started = time.perf_counter()
        try:
            status = self._exchange(body, all_headers)
        except httpx.TimeoutException:
            self.close()
            return SendResult(None, f"timed out after {self.timeout:g}s", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            self.close()
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            # The path is the receiver's secret: an error message never carries it.
            message = message.replace(self.webhook.url, self.webhook.endpoint)
            return SendResult(None, message, time.perf_counter() - started)
        duration = time.perf_counter() - started
        if 200 <= status < 300:
            return SendResult(status, None, duration)
        return SendResult(status, f"HTTP {status}", duration)
