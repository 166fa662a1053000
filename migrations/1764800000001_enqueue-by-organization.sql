-- deskwire.enqueue_deliveries takes the window's organizations with the messages
-- (sql/070_channels.sql), instead of looking each message's up again: the one-argument
-- version goes.

-- Up Migration

DROP FUNCTION IF EXISTS deskwire.enqueue_deliveries(uuid[]);

-- Down Migration

DROP FUNCTION IF EXISTS deskwire.enqueue_deliveries(uuid[], text[]);
