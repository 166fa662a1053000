-- Delivery jobs carry a batch of messages (sql/070_channels.sql): a message is no
-- longer its job's key, so which job delivers it is kept here. A claim lives while
-- its job delivers and retries the message, and is released once the message is
-- settled; the rows are the messages in flight.

-- Up Migration

CREATE TABLE delivery_claims (
  message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  job_id bigint NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Down Migration

DROP TABLE delivery_claims;
