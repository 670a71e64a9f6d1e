-- A booking keeps the SHA-256 of its cancellation token, never the token (docs/access.md):
-- whoever reads the table cannot cancel a booking with what they read.

-- booking_insert() and its two callers return the token they issue beside the row: a result
-- CREATE OR REPLACE cannot change. bookings.sql creates them anew after the migrations.
DROP FUNCTION IF EXISTS booking_create_multi(uuid, uuid, uuid, uuid, integer, uuid[], integer[], text, actor_type,
                                             text, change_channel, text, timestamptz);
DROP FUNCTION IF EXISTS booking_create(uuid, uuid, uuid, uuid, integer, text, actor_type, text, change_channel, text,
                                       timestamptz, text, uuid, integer, booking_status);
DROP FUNCTION IF EXISTS booking_insert(uuid, uuid, uuid, uuid, integer, text, timestamptz, text, uuid, integer,
                                       booking_status);

-- Hashed in place by a change of type, one ALTER TABLE, not an UPDATE and a dropped column:
-- the table is rewritten once, so no row keeps its token on disk (a dropped column's values
-- stay in the rows until each is rewritten), and no trigger fires (an UPDATE would move every
-- booking's version and write an audit row per booking, with the token in its image).
-- booking_insert() draws a new booking's token and writes its hash; a row written by raw SQL
-- or the bulk seed gets the default, the hash of a token drawn and forgotten: nobody holds
-- it, its customer and staff still act on the booking.
ALTER TABLE bookings RENAME COLUMN cancellation_token TO cancellation_token_hash;
ALTER TABLE bookings
  ALTER COLUMN cancellation_token_hash DROP DEFAULT,
  ALTER COLUMN cancellation_token_hash TYPE bytea USING booking_token_hash(cancellation_token_hash),
  ALTER COLUMN cancellation_token_hash SET DEFAULT booking_token_hash(gen_random_uuid()),
  ADD CONSTRAINT bookings_token_hash_is_sha256 CHECK (octet_length(cancellation_token_hash) = 32);
