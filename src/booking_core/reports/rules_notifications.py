"""Integrity rules about notifications: given up for good, or waiting too long."""

from __future__ import annotations

from booking_core.reports.rule import Check

CHECKS: list[Check] = [
    # ------------------------------------------------------------------ notifications
    Check(
        "notification_failed_for_good",
        "notifications",
        "notification_outbox",
        "A notification (booking confirmed or cancelled, reminder, waitlist offer, schedule change) "
        "was given up after its last retry: the customer was never told. Check the webhook's delivery "
        "log (notification_deliveries), fix the receiver, and tell the customer another way.",
        """
  SELECT o.business_id, o.id AS notification_id, o.booking_id, o.event_type, o.attempts, o.last_error, o.dead_at
    FROM {batch} o
    JOIN businesses biz ON biz.id = o.business_id
   WHERE o.dead_at IS NOT NULL
""",
    ),
    Check(
        "notification_backlog_stale",
        "notifications",
        "notification_outbox",
        "A notification has waited more than an hour without being delivered: the dispatcher "
        "(`booking notify`) is not running, or the receiver has been failing for an hour. Start the "
        "dispatcher or fix the receiver; nothing is lost, it is delivered once they are back.",
        """
  SELECT o.business_id, o.id AS notification_id, o.booking_id, o.event_type, o.attempts, o.created_at
    FROM {batch} o
    JOIN businesses biz ON biz.id = o.business_id
   WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.created_at < now() - interval '1 hour'
""",
    ),
]
