-- Money: payments and refunds, and the booking's money derived from them (payment status,
-- paid and refunded amounts, the cancellation fee).

-- What the business keeps when a booking is cancelled: nothing when the business cancels
-- (any actor but the customer) or the customer cancels in time, else the late fee.
-- booking_core.domain.money.cancellation_fee is the same rule (a test compares them).
CREATE OR REPLACE FUNCTION booking_cancellation_fee(p_amount numeric, p_actor actor_type, p_cancelled_at timestamptz,
                                         p_starts_at timestamptz, p_free_hours integer, p_late_percent numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_actor <> 'customer' THEN 0
    WHEN p_cancelled_at <= p_starts_at - make_interval(hours => p_free_hours) THEN 0
    ELSE round(p_amount * p_late_percent / 100, 2)
  END::numeric(12, 2)
$$;

-- A booking's payment status from its money: `unpaid` (pending or failed, from the attempts)
-- until something is received; `paid` once what it keeps covers its amount (an overpayment
-- returned leaves it paid); otherwise partly refunded or partly paid.
-- booking_core.domain.money.payment_status is the same rule (a test compares them).
CREATE OR REPLACE FUNCTION payment_status_of(p_amount numeric, p_paid numeric, p_refunded numeric, p_unpaid payment_status)
RETURNS payment_status
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN CASE
    WHEN p_paid = 0 THEN p_unpaid
    WHEN p_refunded >= p_paid THEN 'refunded'
    WHEN p_paid - p_refunded >= p_amount THEN 'paid'
    WHEN p_refunded > 0 THEN 'partially_refunded'
    ELSE 'partially_paid'
  END::payment_status;
END $$;

-- A payment is in its booking's currency, never changes its booking, amount or currency,
-- has nothing refunded but through refunds, and moves along payment_status_edges.
CREATE OR REPLACE FUNCTION payments_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE b_currency char(3);
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT currency INTO b_currency FROM bookings WHERE business_id = NEW.business_id AND id = NEW.booking_id;
    IF FOUND AND b_currency <> NEW.currency THEN
      RAISE EXCEPTION 'payment in % for a booking priced in %: pay in the booking''s currency', NEW.currency, b_currency
        USING ERRCODE = 'BK009';
    END IF;
    IF NEW.refunded_amount <> 0 THEN
      RAISE EXCEPTION 'a new payment has nothing refunded: record a refund instead' USING ERRCODE = 'BK007';
    END IF;
    NEW.created_at := coalesce(NEW.created_at, booking_ctx_occurred_at());
    NEW.updated_at := NEW.created_at;
  ELSE
    -- Erasing a failed payment's reason (customer_erase()) is no change to the payment.
    IF is_erasure(to_jsonb(OLD), to_jsonb(NEW), erasable_columns(TG_TABLE_NAME)) THEN
      RETURN NEW;
    END IF;
    PERFORM refuse_changed(OLD, NEW, '{business_id,id,booking_id,amount,currency,idempotency_key,created_at}',
      'a payment''s booking, amount and currency never change: record a refund or a new payment');
    IF NEW.refunded_amount <> OLD.refunded_amount AND pg_trigger_depth() < 2 THEN
      RAISE EXCEPTION 'payments.refunded_amount is the sum of its refunds: record a refund instead'
        USING ERRCODE = 'BK007';
    END IF;
    NEW.updated_at := booking_ctx_occurred_at();
  END IF;
  IF (TG_OP = 'INSERT' OR NEW.status <> OLD.status) AND NOT EXISTS (
       SELECT 1 FROM payment_status_edges
        WHERE from_status IS NOT DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END)
          AND to_status = NEW.status) THEN
    RAISE EXCEPTION 'a payment cannot go from % to %', coalesce((CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END), 'nothing'), NEW.status
      USING ERRCODE = 'BK004';
  END IF;
  RETURN NEW;
END $$;

-- The booking's money and status, recomputed from all its payments in the same statement as
-- any payment change: the two cannot drift.
CREATE OR REPLACE FUNCTION booking_payment_status(p_business uuid, p_booking uuid) RETURNS payment_status
LANGUAGE sql STABLE AS $$
  SELECT payment_status_of(b.amount,
           coalesce(sum(p.amount) FILTER (WHERE p.status IN ('paid', 'partially_refunded', 'refunded')), 0),
           coalesce(sum(p.refunded_amount), 0),
           CASE WHEN bool_or(p.status = 'failed') AND NOT bool_or(p.status = 'pending') THEN 'failed'
                ELSE 'pending' END::payment_status)
    FROM bookings b LEFT JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
   WHERE b.business_id = p_business AND b.id = p_booking
   GROUP BY b.amount
$$;

CREATE OR REPLACE FUNCTION payments_after() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  paid numeric;
  refunded numeric;
  unpaid payment_status;
BEGIN
  SELECT coalesce(sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')), 0),
         coalesce(sum(refunded_amount), 0),
         CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending') THEN 'failed'
              ELSE 'pending' END::payment_status
    INTO paid, refunded, unpaid
    FROM payments WHERE business_id = NEW.business_id AND booking_id = NEW.booking_id;
  UPDATE bookings
     SET paid_amount = paid, refunded_amount = refunded,
         payment_status = payment_status_of(amount, paid, refunded, unpaid)
   WHERE business_id = NEW.business_id AND id = NEW.booking_id
     AND (paid_amount, refunded_amount, payment_status)
         IS DISTINCT FROM (paid, refunded, payment_status_of(amount, paid, refunded, unpaid));
  RETURN NULL;
END $$;

-- Refunds are an immutable ledger; each one moves its payment's refunded_amount and status
-- (and so the booking's money), in the payment's currency and never beyond what was paid.
CREATE OR REPLACE FUNCTION refunds_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE p payments;
BEGIN
  SELECT * INTO p FROM payments WHERE business_id = NEW.business_id AND id = NEW.payment_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % does not exist', NEW.payment_id USING ERRCODE = '23503';
  END IF;
  IF NEW.currency <> p.currency THEN
    RAISE EXCEPTION 'refund in % for a payment in %: refund in the payment''s currency', NEW.currency, p.currency
      USING ERRCODE = 'BK009';
  END IF;
  IF p.status NOT IN ('paid', 'partially_refunded') THEN
    RAISE EXCEPTION 'payment % is %: only a paid payment can be refunded', p.id, p.status USING ERRCODE = 'BK004';
  END IF;
  IF p.refunded_amount + NEW.amount > p.amount THEN
    RAISE EXCEPTION 'refund of % exceeds the % still refundable on payment %: refund at most that',
      NEW.amount, p.amount - p.refunded_amount, p.id USING ERRCODE = 'BK010';
  END IF;
  UPDATE payments SET refunded_amount = refunded_amount + NEW.amount,
         status = CASE WHEN refunded_amount + NEW.amount = amount THEN 'refunded' ELSE 'partially_refunded' END::payment_status
   WHERE business_id = NEW.business_id AND id = NEW.payment_id;
  RETURN NULL;
END $$;

-- A cancellation that leaves money owed back records its obligation in the same statement:
-- how much, and by when (the business's refund_within_hours after the change). The integrity
-- check `refund_obligation_unmet` reads due_by, so a refund not yet due is not a violation.
-- One row per booking: later refunds settle it (refund_due reaches 0), they never rewrite it.
CREATE OR REPLACE FUNCTION bookings_refund_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO refund_obligations (business_id, booking_id, amount, currency, recorded_at, due_by)
  SELECT NEW.business_id, NEW.id, NEW.refund_due, NEW.currency, booking_ctx_occurred_at(),
         booking_ctx_occurred_at() + make_interval(hours => z.refund_within_hours)
    FROM businesses z WHERE z.id = NEW.business_id
  ON CONFLICT (business_id, booking_id) DO NOTHING;
  RETURN NULL;
END $$;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('payments_10_guard', 'payments', 'BEFORE INSERT OR UPDATE', 'payments_before');
SELECT define_trigger('payments_10_booking_money', 'payments', 'AFTER INSERT OR UPDATE', 'payments_after');
SELECT define_trigger('refunds_10_apply', 'refunds', 'AFTER INSERT', 'refunds_apply');
-- Only a cancellation that leaves money owed back has an obligation to record.
SELECT define_trigger('bookings_40_refund_due', 'bookings', 'AFTER UPDATE', 'bookings_refund_due',
                      $$NEW.refund_due > 0 AND NEW.status IN ('cancelled', 'refunded')$$);
