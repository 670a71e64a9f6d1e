-- Who may see what: memberships (migration 0008) and the record of every change to them.

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
