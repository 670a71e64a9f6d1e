"""Notifications: the outbox dispatcher (webhook delivery with backoff, circuit breaker, delivery log).

The outbox rows are written by database triggers in the booking's own transaction
(src/booking_core/sql/outbox.sql); this package only delivers them.
"""

from booking_core.notify.circuit import CircuitBreaker, CircuitState, backoff_delay
from booking_core.notify.dispatcher import Dispatcher, DispatchReport, DispatchSettings
from booking_core.notify.webhook import HttpSender, InvalidWebhookUrl, SendResult, Webhook, parse_webhook

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "DispatchReport",
    "DispatchSettings",
    "Dispatcher",
    "HttpSender",
    "InvalidWebhookUrl",
    "SendResult",
    "Webhook",
    "backoff_delay",
    "parse_webhook",
]
