-- Who may see which business, in which role (docs/access.md). A person is the e-mail address
-- their OpenID Connect provider vouches for, in lower case. manager, ops and analyst are held
-- per business; admin (who manages memberships) is across businesses: its business_id is NULL.
CREATE TYPE member_role AS ENUM ('manager', 'ops', 'analyst', 'admin');

CREATE TABLE memberships (
  person      text NOT NULL CHECK (person = lower(btrim(person)) AND person ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  role        member_role NOT NULL,
  business_id uuid REFERENCES businesses (id),
  granted_by  text NOT NULL,
  granted_at  timestamptz NOT NULL,
  CONSTRAINT memberships_admin_across_businesses CHECK ((role = 'admin') = (business_id IS NULL))
);
CREATE UNIQUE INDEX memberships_per_business ON memberships (person, business_id, role) WHERE business_id IS NOT NULL;
CREATE UNIQUE INDEX memberships_admin ON memberships (person) WHERE business_id IS NULL;
CREATE INDEX memberships_business ON memberships (business_id, role);

-- Every grant and revoke, written by the memberships' own trigger (sql/access.sql) whatever
-- the path: who changed whose access to what, when and why. Append-only.
CREATE TABLE membership_changes (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  change      text NOT NULL CHECK (change IN ('grant', 'revoke')),
  person      text NOT NULL,
  role        member_role NOT NULL,
  business_id uuid,
  changed_by  text NOT NULL,
  channel     change_channel NOT NULL,
  reason      text,
  changed_at  timestamptz NOT NULL
);

GRANT SELECT ON memberships, membership_changes TO booking_app, booking_readonly;
GRANT INSERT, DELETE ON memberships TO booking_app;
