-- Writers stop paying for events. Until now each write to messages added a row to
-- events from a trigger (0.8x the insert throughput at 8 writers here, before any
-- event was numbered or sent). Now a row only says which transaction wrote it:
-- written_by (and, for messages, created_by), set by column defaults, and the
-- sequencer finds what changed between two snapshots of the database by that
-- column (sql/040_sequence.sql). No trigger runs on INSERT.
--
-- events becomes the log proper, written by the sequencer alone: numbered rows
-- only, each one change as agents were sent it, its object's JSON in data; a new
-- or updated message's row also carries its desk's JSON (desk), the update_helpdesk
-- event numbered right after it (position + 1).

-- Up Migration

-- Events a previous version's triggers logged but its sequencer did not number yet
-- are numbered here, by that version's own function (the new sequencer would not
-- see them): nothing written before the upgrade is lost.
DO $$
BEGIN
  IF to_regprocedure('deskwire.sequence_events(integer, bigint)') IS NOT NULL THEN
    PERFORM deskwire.sequence_events(2147483647, 0);
  END IF;
END
$$;
DROP TRIGGER IF EXISTS _800_events_insert ON messages;
DROP TRIGGER IF EXISTS _800_events_update ON messages;
DROP TRIGGER IF EXISTS _800_events_delete ON messages;
DROP TRIGGER IF EXISTS _800_events_insert ON help_desks;
DROP TRIGGER IF EXISTS _800_events_update ON help_desks;
DROP TRIGGER IF EXISTS _800_events_update ON clients;
DELETE FROM events WHERE position IS NULL;

-- data as text: the JSON exactly as sent (sql/020_json.sql writes it out as text).
ALTER TABLE events ALTER COLUMN data TYPE text USING data::text, ADD COLUMN desk text;
DROP INDEX events_unnumbered_idx;
DROP INDEX events_position_idx;
DROP INDEX events_organization_position_idx;
ALTER TABLE events DROP COLUMN id;
ALTER TABLE events ALTER COLUMN organization SET NOT NULL;
ALTER TABLE events ADD PRIMARY KEY (position);
-- Resume: an organization's events after a position.
CREATE INDEX events_organization_position_idx ON events (organization, position);
DROP SEQUENCE event_positions;

-- Which transaction wrote each row version. Existing rows get 0, which every
-- snapshot sees as long committed: they are in no window. (A constant default
-- first: no table rewrite; then the real one, for new rows.)
ALTER TABLE messages ADD COLUMN written_by xid8 NOT NULL DEFAULT '0', ADD COLUMN created_by xid8 NOT NULL DEFAULT '0';
ALTER TABLE messages ALTER COLUMN written_by SET DEFAULT pg_current_xact_id(), ALTER COLUMN created_by SET DEFAULT pg_current_xact_id();
CREATE INDEX messages_written_by_idx ON messages (written_by);
ALTER TABLE help_desks ADD COLUMN written_by xid8 NOT NULL DEFAULT '0';
ALTER TABLE help_desks ALTER COLUMN written_by SET DEFAULT pg_current_xact_id();
CREATE INDEX help_desks_written_by_idx ON help_desks (written_by);
ALTER TABLE clients ADD COLUMN written_by xid8 NOT NULL DEFAULT '0';
ALTER TABLE clients ALTER COLUMN written_by SET DEFAULT pg_current_xact_id();
CREATE INDEX clients_written_by_idx ON clients (written_by);

-- What a snapshot cannot show: desks changed by a row that is gone (a deleted
-- message) or moved away (a message moved to another desk). Rare; written by triggers.
CREATE TABLE desk_changes (
  desk_id uuid NOT NULL,
  written_by xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX desk_changes_written_by_idx ON desk_changes (written_by);

-- Where the sequencer is: every message change committed as of messages_seen, and
-- every desk, client and desk_changes change committed as of others_seen, is in the
-- log; `position` is the last one given. Written with each window it logs.
CREATE TABLE sequencer (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  messages_seen pg_snapshot NOT NULL,
  others_seen pg_snapshot NOT NULL,
  position bigint NOT NULL
);
INSERT INTO sequencer (messages_seen, others_seen, position)
SELECT pg_current_snapshot(), pg_current_snapshot(), coalesce(max(position), 0) FROM events;

-- Down Migration

DROP TABLE sequencer;
DROP TABLE desk_changes;
DROP INDEX clients_written_by_idx;
ALTER TABLE clients DROP COLUMN written_by;
DROP INDEX help_desks_written_by_idx;
ALTER TABLE help_desks DROP COLUMN written_by;
DROP INDEX messages_written_by_idx;
ALTER TABLE messages DROP COLUMN written_by, DROP COLUMN created_by;
CREATE SEQUENCE event_positions AS bigint;
SELECT setval('event_positions', coalesce(max(position), 0) + 1000000) FROM events;
DROP INDEX events_organization_position_idx;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
DELETE FROM events WHERE data IS NULL;
ALTER TABLE events DROP COLUMN desk, ALTER COLUMN data TYPE json USING data::json,
  ALTER COLUMN position DROP NOT NULL, ALTER COLUMN organization DROP NOT NULL;
CREATE UNIQUE INDEX events_position_idx ON events (position) WHERE position IS NOT NULL;
CREATE INDEX events_organization_position_idx ON events (organization, position) WHERE position IS NOT NULL;
CREATE INDEX events_unnumbered_idx ON events (id) WHERE position IS NULL;
