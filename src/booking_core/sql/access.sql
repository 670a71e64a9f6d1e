-- Who may see what: memberships (migration 0008) and the record of every change to them; the
-- person of a reader's transaction and what of personal data they see (row security: 0009).

-- The person of the transaction: the login a reader set (booking.person), in lower case.
CREATE OR REPLACE FUNCTION booking_person() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT lower(nullif(current_setting('booking.person', true), '')) $$;

-- Whether the transaction's person is an admin (across businesses), and whether they may read
-- a business's rows (a member of it, or an admin). Run as the caller: a reader reads only their
-- own memberships, which is all these ask about.
CREATE OR REPLACE FUNCTION booking_is_admin() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM memberships a WHERE a.person = booking_person() AND a.role = 'admin')
$$;

CREATE OR REPLACE FUNCTION booking_sees(p_business uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_business IN (SELECT m.business_id FROM memberships m WHERE m.person = booking_person())
         OR booking_is_admin()
$$;

-- Customers as a member sees them, by their role in the customer's business: a manager the name
-- and e-mail address; an analyst a pseudonym (stable per customer, no name); ops neither. Only
-- the businesses the person is a member of. (A view of the owner's: it reads customers' names,
-- which the reader role cannot, and filters by membership itself; a security barrier, so no
-- condition of the reader's runs on a row before that filter.)
CREATE OR REPLACE VIEW customers_for_members WITH (security_barrier) AS
SELECT c.business_id, c.id,
       CASE WHEN r.manager THEN c.name WHEN r.analyst THEN 'customer-' || left(md5(c.id::text), 10) END AS name,
       CASE WHEN r.manager THEN c.email END AS email,
       c.created_at
  FROM customers c
  JOIN LATERAL (SELECT bool_or(m.role = 'manager') AS manager, bool_or(m.role = 'analyst') AS analyst
                  FROM memberships m WHERE m.person = booking_person() AND m.business_id = c.business_id
                HAVING count(*) > 0) r ON true;
GRANT SELECT ON customers_for_members TO booking_reader;

-- The audit trail as a member reads it: their businesses only; row images without the
-- cancellation token (or its hash), and a customer's name and e-mail address only for a manager
-- of the business; no ip address or user agent.
CREATE OR REPLACE VIEW booking_audit_for_members WITH (security_barrier) AS
SELECT a.business_id, a.id, a.entity_type, a.entity_id, a.booking_id, a.action,
       CASE WHEN a.entity_type = 'customer' AND NOT m.manager THEN a.old_values - '{name,email}'::text[]
            ELSE a.old_values END - '{cancellation_token,cancellation_token_hash}'::text[] AS old_values,
       CASE WHEN a.entity_type = 'customer' AND NOT m.manager THEN a.new_values - '{name,email}'::text[]
            ELSE a.new_values END - '{cancellation_token,cancellation_token_hash}'::text[] AS new_values,
       a.reason, a.performed_by, a.performed_by_id, a.channel, a.occurred_at, a.recorded_at
  FROM booking_audit_log a
  JOIN (SELECT x.business_id, bool_or(x.role = 'manager') AS manager FROM memberships x
         WHERE x.person = booking_person() AND x.business_id IS NOT NULL GROUP BY x.business_id) m
    ON m.business_id = a.business_id;
GRANT SELECT ON booking_audit_for_members TO booking_reader;

-- The member views under the tables' own names (migration 0013): the dashboard reads with
-- search_path = booking_members, public, so its queries (the library's, naming `customers` and
-- `booking_audit_log`) read the masked views above, with every column the table has.
CREATE OR REPLACE VIEW booking_members.customers WITH (security_barrier) AS
SELECT business_id, id, name, email, created_at FROM customers_for_members;
CREATE OR REPLACE VIEW booking_members.booking_audit_log WITH (security_barrier) AS
SELECT business_id, id, entity_type, entity_id, booking_id, action, old_values, new_values, reason,
       performed_by, performed_by_id, channel, NULL::inet AS ip_address, NULL::text AS user_agent,
       occurred_at, recorded_at
  FROM booking_audit_for_members;
-- Memberships (with the business's name: an admin is a member of no business), their changes
-- and who looked: an admin reads them all; anyone else their own memberships and changes, and
-- nothing of who looked.
CREATE OR REPLACE VIEW booking_members.memberships WITH (security_barrier) AS
SELECT m.person, m.role, m.business_id, m.granted_by, m.granted_at, b.name AS business
  FROM memberships m LEFT JOIN businesses b ON b.id = m.business_id
 WHERE m.person = booking_person()
    OR booking_is_admin();
CREATE OR REPLACE VIEW booking_members.membership_changes WITH (security_barrier) AS
SELECT c.*, b.name AS business FROM membership_changes c LEFT JOIN businesses b ON b.id = c.business_id
 WHERE c.person = booking_person()
    OR booking_is_admin();
CREATE OR REPLACE VIEW booking_members.access_log WITH (security_barrier) AS
SELECT l.* FROM access_log l
 WHERE booking_is_admin();
-- An integrity run's results with the sample rows of the person's businesses only (the counts
-- are the run's, across businesses: a count names no row).
CREATE OR REPLACE VIEW booking_members.integrity_check_results WITH (security_barrier) AS
SELECT r.run_id, r.check_name, r.suite, r.description, r.status, r.violation_count,
       coalesce((SELECT jsonb_agg(x.e ORDER BY x.n) FROM jsonb_array_elements(r.sample) WITH ORDINALITY x (e, n)
                  WHERE x.e ->> 'business_id' IN (SELECT m.business_id::text FROM memberships m
                                                   WHERE m.person = booking_person())), '[]'::jsonb) AS sample,
       r.error, r.duration_seconds
  FROM integrity_check_results r;
GRANT SELECT ON booking_members.customers, booking_members.booking_audit_log, booking_members.memberships,
                booking_members.membership_changes, booking_members.access_log,
                booking_members.integrity_check_results TO booking_reader;
-- Personal data's lifecycle (migration 0014): the erasure log, the retention policies and runs,
-- the subject access requests answered. Ids, counts, staff ids and times: never a customer's name
-- or contact details. With the business's name (an admin is a member of no business): an admin
-- reads every business's; anyone else their own businesses', as row security gives them.
CREATE OR REPLACE VIEW booking_members.customer_erasures WITH (security_barrier) AS
SELECT e.*, b.name AS business FROM customer_erasures e JOIN businesses b ON b.id = e.business_id
 WHERE booking_sees(e.business_id);
CREATE OR REPLACE VIEW booking_members.subject_access_requests WITH (security_barrier) AS
SELECT r.*, b.name AS business FROM subject_access_requests r JOIN businesses b ON b.id = r.business_id
 WHERE booking_sees(r.business_id);
CREATE OR REPLACE VIEW booking_members.retention_policies WITH (security_barrier) AS
SELECT p.*, b.name AS business FROM retention_policies p JOIN businesses b ON b.id = p.business_id
 WHERE booking_sees(p.business_id);
CREATE OR REPLACE VIEW booking_members.retention_runs WITH (security_barrier) AS
SELECT r.*, b.name AS business FROM retention_runs r JOIN businesses b ON b.id = r.business_id
 WHERE booking_sees(r.business_id);
GRANT SELECT ON booking_members.customer_erasures, booking_members.subject_access_requests,
                booking_members.retention_policies, booking_members.retention_runs TO booking_reader;

-- The audit chain of one of the person's businesses, walked as audit_verify() walks it: the walk
-- hashes whole audit rows, personal columns included, which the reader cannot read; this runs as
-- the owner for a business the person is a member of, and returns only the verdict.
CREATE OR REPLACE FUNCTION booking_members.audit_verify(p_business uuid)
RETURNS TABLE (links bigint, unsealed bigint, first_bad_seq bigint, problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM memberships m WHERE m.person = booking_person() AND m.business_id = p_business) THEN
    RAISE EXCEPTION 'not a member of business %: ask an admin for a membership', p_business USING ERRCODE = 'BK005';
  END IF;
  RETURN QUERY SELECT * FROM public.audit_verify(p_business);
END $$;
REVOKE ALL ON FUNCTION booking_members.audit_verify(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION booking_members.audit_verify(uuid) TO booking_reader;

-- Record that the transaction's person looked (an export, or a dashboard page naming customers):
-- what, the filter, how many rows. The person is the transaction's, never an argument: a reader
-- records only its own look. The only write a reader can make (in a READ WRITE transaction).
CREATE OR REPLACE FUNCTION record_look(p_what text, p_filter jsonb, p_rows bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF booking_person() IS NULL THEN
    RAISE EXCEPTION 'no person: set booking.person to the logged-in e-mail address' USING ERRCODE = 'BK005';
  END IF;
  INSERT INTO access_log (person, what, filter, row_count) VALUES (booking_person(), p_what, p_filter, p_rows);
END $$;
REVOKE ALL ON FUNCTION record_look(text, jsonb, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_look(text, jsonb, bigint) TO booking_reader;

-- Record a grant (INSERT) or a revoke (DELETE) of a membership in membership_changes, with the
-- change context of the transaction (who, how, why, when): raw SQL included.
CREATE OR REPLACE FUNCTION memberships_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  m memberships := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
BEGIN
  INSERT INTO membership_changes (change, person, role, business_id, changed_by, channel, reason, changed_at)
  VALUES (CASE TG_OP WHEN 'DELETE' THEN 'revoke' ELSE 'grant' END, m.person, m.role, m.business_id,
          booking_ctx_actor_type()::text || ':' || booking_ctx_actor_id(), booking_ctx_channel(),
          booking_ctx('reason'), booking_ctx_occurred_at());
  RETURN NULL;
END $$;

-- A membership is granted or revoked, never edited: change one by revoking it and granting anew.
CREATE OR REPLACE FUNCTION memberships_refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'UPDATE on memberships is refused: revoke the membership and grant the new one'
    USING ERRCODE = 'BK006';
END $$;

SELECT define_trigger('memberships_10_record', 'memberships', 'AFTER INSERT OR DELETE', 'memberships_record');
SELECT define_trigger('memberships_10_no_update', 'memberships', 'BEFORE UPDATE', 'memberships_refuse_update');
