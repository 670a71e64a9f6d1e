-- The member views' schema (docs/access.md, "The dashboard"). A reader whose search path puts it
-- first reads the views of sql/access.sql under the names of the tables they mask: the same
-- queries serve the library's roles (the tables) and a person (the views). The reader may use the
-- schema, never create in it.
CREATE SCHEMA booking_members;
REVOKE ALL ON SCHEMA booking_members FROM PUBLIC;
GRANT USAGE ON SCHEMA booking_members TO booking_reader;

-- What a person's pages read that belongs to no business: the integrity runs (their outcome,
-- counted across businesses), the checker's progress, the notification endpoints' circuit
-- breakers (scheme, host and port: never a secret). A run's sample rows are read through the
-- member view of sql/access.sql, which keeps only the person's businesses' rows.
GRANT SELECT ON integrity_check_runs, checker_state, notification_circuit TO booking_reader;
