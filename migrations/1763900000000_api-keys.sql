-- Long-lived credentials for the services that push messages, scoped to one
-- organization. Only a SHA-256 of each key is stored: the key is shown once.

-- Up Migration

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization text NOT NULL REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE,
  name text NOT NULL DEFAULT '',
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_organization_idx ON api_keys (organization);

-- GET /media/<file> is served only to the organization of the message holding it.
CREATE INDEX messages_file_idx ON messages (file) WHERE file IS NOT NULL;

-- Down Migration

DROP INDEX messages_file_idx;
DROP TABLE api_keys;
