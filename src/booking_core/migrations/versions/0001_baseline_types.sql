-- The booking schema's types (before the change-context functions, which return them).
--
-- Custom SQLSTATEs (mapped to typed errors in booking_core.adapters.errors):
--   BK001 capacity exceeded      BK002 legacy slot          BK003 unknown slot
--   BK004 illegal transition     BK005 actor not allowed    BK006 append-only / never delete
--   BK007 derived or immutable column written directly     BK008 idempotency key reused
--   BK009 currency mismatch      BK010 refund exceeds payment
--   BK011 invalid timezone       BK012 slot already started BK013 party above the service maximum
--   BK014 invalid promo code     BK015 waitlist offer expired or not open
--   BK016 unknown resource       BK017 malformed multi-resource request
--   BK018 a resource of a multi-resource booking is not free

CREATE TYPE booking_status AS ENUM
  ('draft', 'confirmed', 'checked_in', 'completed', 'no_show', 'cancelled', 'refunded');
CREATE TYPE payment_method AS ENUM ('pay_now', 'pay_on_arrival');
-- partially_paid: some money received, less than the amount.
CREATE TYPE payment_status AS ENUM
  ('pending', 'paid', 'partially_paid', 'failed', 'refunded', 'partially_refunded');
CREATE TYPE actor_type AS ENUM ('customer', 'admin', 'system', 'database');
CREATE TYPE change_channel AS ENUM ('api', 'ui', 'cli', 'batch', 'sql');
CREATE TYPE refusal_reason AS ENUM ('full', 'legacy', 'invalid', 'started', 'unknown_slot');
