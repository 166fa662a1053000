-- Rooms and topics (CONTRACT §9).
--
-- room_events: what services publish to a room (deskwire.publish, or an INSERT).
-- A queue for the sequencer, read by written_by like desk_changes and emptied the
-- same way: the log keeps the event (events.data).
--
-- events gains what a topic is decided by: the help desk of a desk event, the
-- assignee it had when it was numbered (the inbox topic, and its replay), and the
-- room and data of a room event. Rows logged before this have none of them:
-- deskwire.logged_events finds the desk of those from their rows.
--
-- The NOTIFY lines change shape (a topic field), so they go out on a new channel,
-- deskwire_events: a gateway still on the old version hears nothing rather than
-- misreading them, and its clients resume on a new one. logged_changes gives way to
-- logged_events for the same reason.

-- Up Migration

CREATE TABLE room_events (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  -- The order a writer published in (within a transaction; across transactions, commit order decides).
  n bigint GENERATED ALWAYS AS IDENTITY,
  organization text NOT NULL REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE,
  room text NOT NULL CONSTRAINT room_events_room_check CHECK (room ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  type text NOT NULL CONSTRAINT room_events_type_check CHECK (type ~ '^[a-z][a-z0-9_.-]{0,63}$' AND type NOT IN (
    'new_message', 'update_message', 'update_helpdesk', 'resync_required', 'read_receipt',
    'subscribe', 'unsubscribe', 'subscribed', 'error',
    'presence_join', 'presence_leave', 'typing', 'typing_stop')),
  data jsonb NOT NULL CONSTRAINT room_events_data_check CHECK (octet_length(data::text) <= 1048576),
  written_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX room_events_written_by_idx ON room_events (written_by);

ALTER TABLE events
  ADD COLUMN help_desk uuid,
  ADD COLUMN assignee text,
  ADD COLUMN room text,
  ADD COLUMN data jsonb;
-- The inbox replay looks up a desk's event before a reassignment (who had it).
CREATE INDEX events_help_desk_position_idx ON events (help_desk, position) WHERE help_desk IS NOT NULL;

ALTER TABLE desk_prefixes ADD COLUMN assignee text;

DROP FUNCTION IF EXISTS deskwire.payload_line(bigint, text, text, text, text);
DROP FUNCTION IF EXISTS deskwire.logged_changes(text, bigint, bigint, int);

-- Down Migration

DROP FUNCTION IF EXISTS deskwire.logged_events(text, bigint, bigint, int);
DROP FUNCTION IF EXISTS deskwire.replay_events(text, bigint, bigint, int, boolean, uuid[], text[], text);
DROP FUNCTION IF EXISTS deskwire.event_topic(events);
DROP FUNCTION IF EXISTS deskwire.event_desk(events);
DROP FUNCTION IF EXISTS deskwire.sequence_resync_of(text[], bigint);
DROP FUNCTION IF EXISTS deskwire.payload_line(bigint, text, text, text, text, text);
DROP FUNCTION IF EXISTS deskwire.publish(text, text, text, jsonb);
ALTER TABLE desk_prefixes DROP COLUMN assignee;
DROP INDEX events_help_desk_position_idx;
DELETE FROM events WHERE room IS NOT NULL;
ALTER TABLE events DROP COLUMN help_desk, DROP COLUMN assignee, DROP COLUMN room, DROP COLUMN data;
DROP TABLE room_events;
