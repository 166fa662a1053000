-- The four tables of the contract. Behaviour (timestamps, JSON shapes, events)
-- lives in sql/ and is re-applied after every migration run.

-- Up Migration

CREATE TABLE organizations (
  -- The name travels in WebSocket URLs and NOTIFY payloads: keep it URL-safe.
  name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE clients (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization text NOT NULL REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE,
  name text NOT NULL,
  phone text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Target of help_desks' composite key: a desk always belongs to its client's organization.
  UNIQUE (id, organization)
);
CREATE INDEX clients_organization_idx ON clients (organization);

CREATE TABLE help_desks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Filled from the client when omitted (trigger _110_organization).
  organization text NOT NULL,
  client_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  FOREIGN KEY (client_id, organization) REFERENCES clients (id, organization)
    ON UPDATE CASCADE ON DELETE CASCADE
);
-- GET /api/help-desks/?organization=: an organization's desks, newest first.
CREATE INDEX help_desks_organization_created_at_idx ON help_desks (organization, created_at DESC, id DESC);
CREATE INDEX help_desks_client_id_idx ON help_desks (client_id);

CREATE TABLE messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  help_desk_id uuid NOT NULL REFERENCES help_desks (id) ON DELETE CASCADE,
  message text,
  -- A path relative to MEDIA_DIR (served at /media/<file>), or an absolute URL.
  file text,
  type text NOT NULL DEFAULT 'sent' CHECK (type IN ('sent', 'received')),
  status text NOT NULL DEFAULT 'sending'
    CHECK (status IN ('sending', 'sent', 'delivered', 'read', 'failed')),
  -- clock_timestamp(), not now(): rows written in one transaction still get an order.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT messages_has_content CHECK (message IS NOT NULL OR file IS NOT NULL)
);
-- A desk's history and its last_message, newest first.
CREATE INDEX messages_help_desk_id_created_at_idx ON messages (help_desk_id, created_at DESC, id DESC);

-- Down Migration

DROP TABLE messages;
DROP TABLE help_desks;
DROP TABLE clients;
DROP TABLE organizations;
