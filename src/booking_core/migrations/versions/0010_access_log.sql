-- Who looked: every export of booking history made as a person, and every view of personal
-- data, with the person, what, the filter, how many rows and when (docs/access.md). Append-only;
-- admins read it through the library's roles.
CREATE TABLE access_log (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  person    text NOT NULL CHECK (person = lower(btrim(person))),
  what      text NOT NULL CHECK (what IN ('export', 'personal_data')),
  filter    jsonb NOT NULL DEFAULT '{}',
  row_count bigint NOT NULL CHECK (row_count >= 0),
  at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX access_log_person ON access_log (person, at);

GRANT SELECT, INSERT ON access_log TO booking_app;
GRANT SELECT ON access_log TO booking_readonly;
