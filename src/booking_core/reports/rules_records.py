"""Integrity rules about a booking's record: its slot, its audit trail, its walk through the state machine."""

from __future__ import annotations

from booking_core.reports.rule import Check

CHECKS: list[Check] = [
    # ------------------------------------------------------------------ orphaned bookings
    Check(
        "orphaned_booking",
        "orphaned_bookings",
        "bookings",
        "An active booking (draft, confirmed, checked-in) points at a slot that is missing, or "
        "at a slot that is neither in the current schedule nor marked legacy: the customer will "
        "arrive for a time the business no longer knows. Restore the slot or mark it legacy.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status,
         CASE WHEN ts.id IS NULL THEN 'slot missing'
              ELSE 'slot neither in the current schedule nor legacy' END AS problem
    FROM {batch} b
    LEFT JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
    LEFT JOIN schedule_versions sv ON sv.business_id = b.business_id AND sv.is_active
   WHERE b.status IN ('draft', 'confirmed', 'checked_in')
     AND (ts.id IS NULL
          OR (NOT ts.is_legacy AND ts.schedule_version_id IS DISTINCT FROM sv.id
              AND ts.local_date >= sv.effective_date))
""",
    ),
    Check(
        "legacy_flag_mismatch",
        "orphaned_bookings",
        "time_slots",
        "A slot's legacy flag disagrees with the current schedule: from the schedule's effective "
        "date on, a slot is bookable exactly when the current schedule version has it. A slot the "
        "schedule dropped but flagged bookable takes bookings for a time that no longer exists; "
        "publish the schedule again to set the flags right.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.is_legacy, ts.schedule_version_id, sv.id AS current_version_id
    FROM {batch} ts
    JOIN schedule_versions sv ON sv.business_id = ts.business_id AND sv.is_active
   WHERE ts.local_date >= sv.effective_date AND ts.is_legacy = (ts.schedule_version_id = sv.id)
""",
    ),
    # ------------------------------------------------------------------ audit completeness
    Check(
        "booking_without_created_audit",
        "audit_completeness",
        "bookings",
        "A booking has no 'booking.created' audit entry: nobody can tell who made it, when or "
        "how. Find how it was written (raw SQL, a restore) and record the missing history.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.created_at
    FROM {batch} b
    LEFT JOIN booking_audit_log a ON a.business_id = b.business_id AND a.booking_id = b.id
                                 AND a.action = 'booking.created'
   WHERE a.action IS NULL
""",
    ),
    Check(
        "version_without_audit",
        "audit_completeness",
        "bookings",
        "A booking's version (one per change) differs from the number of its audit rows: a change "
        "was written without its audit row, or an audit row was removed. Nobody can account for "
        "that change; find it from the booking's history and the database logs.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.version, coalesce(a.n, 0) AS audit_rows
    FROM {batch} b
    LEFT JOIN (SELECT business_id, booking_id, count(*) AS n FROM booking_audit_log
                WHERE entity_type = 'booking' GROUP BY business_id, booking_id) a
      ON a.business_id = b.business_id AND a.booking_id = b.id
   WHERE b.version <> coalesce(a.n, 0)
""",
    ),
    Check(
        "transition_without_audit",
        "audit_completeness",
        "booking_state_transitions",
        "A booking state transition has no matching audit entry ('booking.created' or "
        "'booking.<new status>'): the status changed without a trace of who and why.",
        """
  SELECT t.business_id, t.booking_id, b.slot_id, t.id AS transition_id, t.from_status,
         t.to_status, t.occurred_at
    FROM {batch} t
    LEFT JOIN bookings b ON b.business_id = t.business_id AND b.id = t.booking_id
    LEFT JOIN booking_audit_log a
      ON a.business_id = t.business_id AND a.booking_id = t.booking_id
     AND a.action = CASE WHEN t.from_status IS NULL THEN 'booking.created'
                         ELSE 'booking.' || t.to_status::text END
   WHERE a.action IS NULL
""",
    ),
    Check(
        "status_not_last_transition",
        "audit_completeness",
        "bookings",
        "A booking's status is not the target of its last recorded state transition (or it has "
        "none): the status was changed outside the state machine. Review its history.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status, lt.to_status AS last_transition_to
    FROM {batch} b
    LEFT JOIN (SELECT DISTINCT ON (business_id, booking_id) business_id, booking_id, to_status
                 FROM booking_state_transitions ORDER BY business_id, booking_id, id DESC) lt
      ON lt.business_id = b.business_id AND lt.booking_id = b.id
   WHERE lt.to_status IS DISTINCT FROM b.status
""",
    ),
    Check(
        "audit_chain_broken",
        "audit_completeness",
        "businesses",
        "A business's sealed audit hash chain does not verify (audit_verify): an audit row was "
        "altered or deleted after sealing, or a link is missing. Treat the audit trail as "
        "tampered from this link on and restore it from a backup.",
        """
  SELECT biz.id AS business_id, a.booking_id, v.first_bad_seq, c.audit_id, v.problem
    FROM {batch} biz
    CROSS JOIN LATERAL audit_verify(biz.id) v
    LEFT JOIN audit_chain c ON c.business_id = biz.id AND c.seq = v.first_bad_seq
    LEFT JOIN booking_audit_log a ON a.business_id = c.business_id AND a.id = c.audit_id
   WHERE v.first_bad_seq IS NOT NULL
""",
    ),
    # ------------------------------------------------------------------ state validity
    Check(
        "status_outside_state_machine",
        "state_validity",
        "bookings",
        "A booking is in a status that no edge of the state machine leads to: no legal sequence "
        "of actions could have put it there.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status
    FROM {batch} b
    LEFT JOIN (SELECT DISTINCT to_status FROM booking_status_edges) e ON e.to_status = b.status
   WHERE e.to_status IS NULL
""",
    ),
    Check(
        "transition_not_in_state_machine",
        "state_validity",
        "booking_state_transitions",
        "A recorded state transition walks an edge the state machine does not have (for example "
        "cancelled -> confirmed): the booking's state was forced. Review the booking.",
        """
  SELECT t.business_id, t.booking_id, t.id AS transition_id, t.from_status, t.to_status,
         t.actor_type, t.occurred_at
    FROM {batch} t
    LEFT JOIN booking_status_edges e
      ON coalesce(e.from_status::text, '') = coalesce(t.from_status::text, '')
     AND e.to_status = t.to_status
   WHERE e.to_status IS NULL
""",
    ),
    Check(
        "check_in_before_slot_opens",
        "state_validity",
        "booking_state_transitions",
        "A booking was checked in more than 30 minutes before its slot starts (check-in opens "
        "30 minutes before): a clock, timezone or wrong-booking error at the front desk.",
        """
  SELECT t.business_id, t.booking_id, b.slot_id, t.id AS transition_id,
         t.occurred_at AS checked_in_at, ts.starts_at
    FROM {batch} t
    JOIN bookings b ON b.business_id = t.business_id AND b.id = t.booking_id
    JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
   WHERE t.to_status = 'checked_in' AND t.occurred_at < ts.starts_at - interval '30 minutes'
""",
    ),
]
