-- Publishing to a room from SQL: what POST /api/rooms/<name>/events/ does, for any
-- writer. A row in room_events, which the sequencer numbers, logs and sends like a
-- message (sql/040_sequence.sql): no NOTIFY here, nothing more for the writer to
-- pay. room_events' CHECKs refuse a bad room, a bad or reserved type and data over
-- 1 MiB (REST stops at MAX_EVENT_BYTES first). Returns the room event's uuid; its
-- event id (position) is given when the transaction commits.
CREATE OR REPLACE FUNCTION deskwire.publish(organization text, room text, type text, data jsonb) RETURNS uuid
LANGUAGE sql AS $$
  INSERT INTO room_events (organization, room, type, data) VALUES (organization, room, type, data) RETURNING id
$$;
