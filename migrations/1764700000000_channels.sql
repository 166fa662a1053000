-- Channels (CONTRACT §10): where an organization's outgoing messages are
-- delivered, and what its provider sends back.
--
-- channels: one per organization: a webhook (url + secret; the secret signs both
-- ways) or the echo channel (demos). channel_contacts: the client an inbound
-- phone number belongs to, one per organization and phone (found or made with
-- ON CONFLICT, never check-then-insert; clients.phone itself is not unique).
-- inbound_messages: a provider's external_id, once per organization: a webhook
-- sent twice stores its message once.
--
-- Delivery jobs live in graphile-worker's own schema, installed with the migrations.

-- Up Migration

CREATE TABLE channels (
  organization text PRIMARY KEY REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('webhook', 'echo')),
  url text CHECK (url ~ '^https?://'),
  secret text NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT channels_webhook_has_url CHECK ((kind = 'webhook') = (url IS NOT NULL))
);

CREATE TABLE channel_contacts (
  organization text NOT NULL,
  phone text NOT NULL CHECK (length(phone) BETWEEN 1 AND 64),
  client_id uuid NOT NULL,
  PRIMARY KEY (organization, phone),
  FOREIGN KEY (client_id, organization) REFERENCES clients (id, organization) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE inbound_messages (
  organization text NOT NULL REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE,
  external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 256),
  message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization, external_id)
);
CREATE INDEX inbound_messages_message_id_idx ON inbound_messages (message_id);

-- Down Migration

DROP TABLE inbound_messages;
DROP TABLE channel_contacts;
DROP TABLE channels;
