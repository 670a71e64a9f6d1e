"""The composition root: `connect()` builds a BookingSystem (database, clock) when called, never at import."""

from __future__ import annotations

import dataclasses

from booking_core.adapters.db import Database
from booking_core.config import Settings
from booking_core.domain import requests as rq
from booking_core.retries import RetryPolicy, policy_of
from booking_core.services import (
    access,
    audit,
    bookings,
    catalogue,
    freeze,
    idempotency,
    multi,
    payments,
    personal,
    pricing,
    schedules,
    series,
    waitlist,
)
from booking_core.services.context import Clock, utc_now
from booking_core.services.usecase import UseCase

__all__ = ["BookingSystem", "Clock", "connect", "utc_now"]


def connect(
    database_url: str | None = None,
    *,
    clock: Clock = utc_now,
    migrate: bool = True,
    pool_size: int = 5,
    retries: bool | RetryPolicy = True,
) -> BookingSystem:
    """Open the database (BOOKING_DATABASE_URL, or the embedded server) and migrate it.

    `retries`: retry reads and keyed writes on retryable errors (the default), not at all
    (False), or under a RetryPolicy of one's own; see booking_core.retries.
    """
    settings = Settings.from_env()
    if database_url:
        settings = dataclasses.replace(settings, database_url=database_url)
    db = Database.from_settings(settings, pool_size=pool_size)
    try:
        if migrate:
            db.upgrade()
        else:
            db.require_migrated()
    except BaseException:
        db.dispose()
        raise
    return BookingSystem(db, clock=clock, retries=retries)


class BookingSystem:
    """The public API: every use case is one attribute, taking the fields of its request (domain/requests.py).

    Each runs in one transaction; `now` defaults to the clock. Every use case raises only
    booking_core errors. Reads (`read=True`), and writes given an idempotency key, are retried
    on retryable errors (a lost connection, a restarting server, a lock timeout) unless
    `retries=False`; a write without a key is never resent.
    """

    def __init__(self, db: Database, *, clock: Clock = utc_now, retries: bool | RetryPolicy = True) -> None:
        self.db = db
        self.clock = clock
        self.retry_policy: RetryPolicy | None = policy_of(retries)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> BookingSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalogue
    create_business = UseCase(rq.BusinessRequest, catalogue.create_business)
    add_customer = UseCase(rq.CustomerRequest, catalogue.add_customer)
    add_service = UseCase(rq.ServiceRequest, catalogue.add_service)
    add_resource = UseCase(rq.ResourceRequest, catalogue.add_resource)
    set_cancellation_policy = UseCase(rq.CancellationPolicyRequest, catalogue.set_cancellation_policy)

    # -- schedules
    publish_schedule = UseCase(rq.ScheduleRequest, schedules.publish_schedule)
    change_capacity = UseCase(rq.CapacityRequest, schedules.change_capacity)
    open_slots = UseCase(rq.OpenSlotsQuery, schedules.open_slots, read=True)
    get_slot = UseCase(rq.SlotQuery, schedules.get_slot, read=True)

    # -- bookings
    book = UseCase(rq.BookingRequest, bookings.book)
    get_booking = UseCase(rq.BookingQuery, bookings.get_booking, read=True)
    cancel = UseCase(rq.CancelRequest, bookings.cancel)
    reschedule = UseCase(rq.RescheduleRequest, bookings.reschedule)
    change_party_size = UseCase(rq.PartySizeRequest, bookings.change_party_size)
    check_in = UseCase(rq.FrontDeskRequest, bookings.check_in)
    complete = UseCase(rq.FrontDeskRequest, bookings.complete)
    mark_no_show = UseCase(rq.FrontDeskRequest, bookings.mark_no_show)
    book_with_resources = UseCase(rq.MultiResourceRequest, multi.book_with_resources)

    # -- payments
    record_payment = UseCase(rq.PaymentRequest, payments.record_payment)
    confirm_payment = UseCase(rq.ConfirmationRequest, payments.confirm_payment)
    fail_payment = UseCase(rq.PaymentFailureRequest, payments.fail_payment)
    refund = UseCase(rq.RefundRequest, payments.refund)
    refund_due = UseCase(rq.RefundDueRequest, payments.refund_due)

    # -- prices: locked into each booking when it is made
    add_price_rule = UseCase(rq.PriceRuleRequest, pricing.add_price_rule)
    add_promo_code = UseCase(rq.PromoCodeRequest, pricing.add_promo_code)
    quote = UseCase(rq.QuoteRequest, pricing.quote, read=True)

    # -- audit
    seal_audit = UseCase(rq.BusinessQuery, audit.seal)
    verify_audit = UseCase(rq.BusinessQuery, audit.verify, read=True)
    booking_history = UseCase(rq.BookingQuery, audit.history, read=True)

    # -- ops: a business's write freeze during an incident (sql/freeze.sql)
    set_freeze = UseCase(rq.FreezeRequest, freeze.set_freeze)

    # -- admins: who may see which business, in which role (docs/access.md)
    set_membership = UseCase(rq.MembershipRequest, access.set_membership)

    # -- personal data: erasure, retention, subject access (docs/personal-data.md)
    erase_customer = UseCase(rq.ErasureRequest, personal.erase)
    customer_data = UseCase(rq.SubjectAccessRequest, personal.subject_access)
    set_retention_policy = UseCase(rq.RetentionPolicyRequest, personal.set_policy)
    run_retention = UseCase(rq.RetentionRunRequest, personal.run_retention)

    # -- idempotency keys (docs/invariants.md, "Idempotency")
    purge_idempotency_keys = UseCase(rq.KeyPurgeRequest, idempotency.purge)

    # -- waitlists
    join_waitlist = UseCase(rq.WaitlistJoinRequest, waitlist.join)
    accept_waitlist_offer = UseCase(rq.OfferAcceptRequest, waitlist.accept)
    leave_waitlist = UseCase(rq.WaitlistLeaveRequest, waitlist.leave)
    expire_waitlist_offers = UseCase(rq.OfferExpiryRequest, waitlist.expire_offers)
    waitlist_entry = UseCase(rq.WaitlistEntryQuery, waitlist.get, read=True)
    waitlist_queue = UseCase(rq.SlotQuery, waitlist.queue, read=True)

    # -- recurring series
    create_series = UseCase(rq.SeriesRequest, series.create_series)
    cancel_series = UseCase(rq.SeriesCancelRequest, series.cancel_series)
    change_series_party_size = UseCase(rq.SeriesPartySizeRequest, series.change_series_party_size)
