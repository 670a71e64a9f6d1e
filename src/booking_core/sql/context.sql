-- The change context (who, why, how, when of the current transaction), the helpers that
-- column defaults and CHECKs call, and define_trigger, with which every other area declares
-- its triggers: applied before the tables, so it reads no table.

-- Who/why/how of the current transaction, set by the library with set_config(..., true).
-- A change made with raw SQL and no context is attributed to the database user, channel sql.
CREATE OR REPLACE FUNCTION booking_ctx(key text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('booking.' || key, true), '') $$;

CREATE OR REPLACE FUNCTION booking_ctx_actor_type() RETURNS actor_type
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('actor_type'), 'database')::actor_type $$;

CREATE OR REPLACE FUNCTION booking_ctx_actor_id() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('actor_id'), session_user::text) $$;

CREATE OR REPLACE FUNCTION booking_ctx_channel() RETURNS change_channel
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('channel'), 'sql')::change_channel $$;

-- Set the change context for the rest of the transaction, as the library's unit of work does:
-- for the SQL functions that take it as arguments (booking_create, booking_create_multi).
CREATE OR REPLACE FUNCTION booking_ctx_set(p_actor_type actor_type, p_actor_id text, p_channel change_channel,
                                           p_reason text, p_occurred_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('booking.actor_type', p_actor_type::text, true),
          set_config('booking.actor_id', p_actor_id, true),
          set_config('booking.channel', p_channel::text, true),
          set_config('booking.reason', coalesce(p_reason, ''), true),
          set_config('booking.occurred_at', p_occurred_at::text, true);
END $$;

-- The event time: the library passes its clock (so generated history has real times);
-- raw SQL gets the transaction time.
CREATE OR REPLACE FUNCTION booking_ctx_occurred_at() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('occurred_at')::timestamptz, now()) $$;

-- CET, EET, MET and WET are IANA zones with summer time, but `AT TIME ZONE` reads them as
-- PostgreSQL's fixed-offset abbreviations: slots in them could not be read back in SQL.
-- booking_core.domain.values.READ_AS_ABBREVIATIONS is the same list (a test compares it with
-- pg_timezone_abbrevs).
CREATE OR REPLACE FUNCTION booking_is_valid_timezone(tz text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) AND tz NOT IN ('CET', 'EET', 'MET', 'WET')
$$;

-- A time-ordered id (UUIDv7), like the library's new_id(), for rows written by triggers.
CREATE OR REPLACE FUNCTION outbox_uuid7() RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid;
END $$;


-- What a booking keeps of its cancellation token: the SHA-256 of the token's 16 bytes (as
-- uuid_send() gives them, Python's uuid.UUID.bytes), never the token. One definition: the
-- column default of bookings.cancellation_token_hash, booking_insert() and the outbox call it;
-- booking_core.domain.ownership.token_hash is the same in Python (a test compares them).
CREATE OR REPLACE FUNCTION booking_token_hash(p_token uuid) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT sha256(uuid_send(p_token)) $$;
-- Create or replace the row trigger p_name on p_table: p_when_events is its timing and events
-- as CREATE TRIGGER writes them ('AFTER UPDATE OF status'), p_condition its WHEN condition,
-- if it has one. An area lists its calls at the end of its file; triggers fire in the order
-- of their names (docs/invariants.md, "Trigger order").
CREATE OR REPLACE FUNCTION define_trigger(p_name text, p_table regclass, p_when_events text, p_function regproc,
                                          p_condition text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE OR REPLACE TRIGGER %I %s ON %s FOR EACH ROW %s EXECUTE FUNCTION %s()',
                 p_name, p_when_events, p_table, 'WHEN (' || p_condition || ')', p_function);
END $$;
REVOKE ALL ON FUNCTION define_trigger(text, regclass, text, regproc, text) FROM PUBLIC;
