-- Idempotency keys: lock, look up and record a keyed write; purge old keys.

-- Rows never change; they leave only through idempotency_purge().
CREATE OR REPLACE FUNCTION idempotency_keys_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('booking.idempotency_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% on idempotency_keys is refused: keys are append-only, purge old ones with idempotency_purge()',
    TG_OP USING ERRCODE = 'BK006';
END $$;

-- The fingerprint of a request: jsonb's text is canonical (keys sorted, no duplicates, fixed
-- spacing), so equal requests hash alike whoever built them.
CREATE OR REPLACE FUNCTION idempotency_fingerprint(p_request jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$ SELECT sha256(convert_to(p_request::text, 'UTF8')) $$;

CREATE OR REPLACE FUNCTION idempotency_lock(p_business uuid, p_key text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(hashtextextended('idempotency:' || p_business::text || ':' || p_key, 0)) $$;

-- What the first request with this key recorded (NULL: the key is unused here); BK008 when
-- the key was used for another operation or another request.
CREATE OR REPLACE FUNCTION idempotency_lookup(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  k idempotency_keys;
BEGIN
  SELECT * INTO k FROM idempotency_keys WHERE business_id = p_business AND key = p_key;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF k.operation <> p_operation THEN
    RAISE EXCEPTION 'idempotency key % was used for another operation (%): use a new key for a new request',
      p_key, k.operation USING ERRCODE = 'BK008';
  END IF;
  IF k.request_hash <> idempotency_fingerprint(p_request) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different % request: use a new key for a new request',
      p_key, p_operation USING ERRCODE = 'BK008';
  END IF;
  RETURN k.result;
END $$;

-- Lock the key, then look it up: the first thing every keyed write does.
CREATE OR REPLACE FUNCTION idempotency_begin(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM idempotency_lock(p_business, p_key);
  RETURN idempotency_lookup(p_business, p_key, p_operation, p_request);
END $$;

CREATE OR REPLACE FUNCTION idempotency_record(p_business uuid, p_key text, p_operation text, p_request jsonb,
                                   p_result jsonb, p_at timestamptz) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO idempotency_keys (business_id, key, operation, request_hash, result, created_at)
  VALUES (p_business, p_key, p_operation, idempotency_fingerprint(p_request), p_result, p_at)
$$;

-- Forget keys recorded before p_before; returns how many. A retry of a forgotten key is
-- judged as a new request, except that a booking's or payment's key still finds its row.
CREATE OR REPLACE FUNCTION idempotency_purge(p_before timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n integer;
BEGIN
  PERFORM set_config('booking.idempotency_purge', 'on', true);
  DELETE FROM idempotency_keys WHERE created_at < p_before;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('booking.idempotency_purge', '', true);
  RETURN n;
END $$;
-- SECURITY DEFINER: it deletes what no caller may; only the library's role may call it.
REVOKE ALL ON FUNCTION idempotency_purge(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_purge(timestamptz) TO booking_app;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('idempotency_keys_10_guard', 'idempotency_keys', 'BEFORE UPDATE OR DELETE',
                      'idempotency_keys_guard');
