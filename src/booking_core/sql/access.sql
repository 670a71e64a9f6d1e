-- Who may see what: memberships (migration 0008) and the record of every change to them; the
-- person of a reader's transaction and what of personal data they see (row security: 0009).

-- The person of the transaction: the login a reader set (booking.person), in lower case.
CREATE OR REPLACE FUNCTION booking_person() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT lower(nullif(current_setting('booking.person', true), '')) $$;

-- Customers as a member sees them, by their role in the customer's business: a manager the name
-- and e-mail address; an analyst a pseudonym (stable per customer, no name); ops neither. Only
-- the businesses the person is a member of. (A view of the owner's: it reads customers' names,
-- which the reader role cannot, and filters by membership itself.)
CREATE OR REPLACE VIEW customers_for_members AS
SELECT c.business_id, c.id,
       CASE WHEN r.manager THEN c.name WHEN r.analyst THEN 'customer-' || left(md5(c.id::text), 10) END AS name,
       CASE WHEN r.manager THEN c.email END AS email,
       c.created_at
  FROM customers c
  JOIN LATERAL (SELECT bool_or(m.role = 'manager') AS manager, bool_or(m.role = 'analyst') AS analyst
                  FROM memberships m WHERE m.person = booking_person() AND m.business_id = c.business_id
                HAVING count(*) > 0) r ON true;
GRANT SELECT ON customers_for_members TO booking_reader;

-- The audit trail as a member reads it: their businesses only, row images without the
-- cancellation token, no ip address or user agent.
CREATE OR REPLACE VIEW booking_audit_for_members AS
SELECT a.business_id, a.id, a.entity_type, a.entity_id, a.booking_id, a.action,
       a.old_values - 'cancellation_token' AS old_values, a.new_values - 'cancellation_token' AS new_values,
       a.reason, a.performed_by, a.performed_by_id, a.channel, a.occurred_at, a.recorded_at
  FROM booking_audit_log a
 WHERE a.business_id IN (SELECT m.business_id FROM memberships m WHERE m.person = booking_person());
GRANT SELECT ON booking_audit_for_members TO booking_reader;

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
