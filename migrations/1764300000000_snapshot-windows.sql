-- Writers of messages stop paying for events. Until now each write to messages
-- added a row to events from a trigger (0.8x the insert throughput at 8 writers
-- here, before any event was numbered or sent). Now a message only says which
-- transaction wrote it: written_by and created_by, set by column defaults, and the
-- sequencer finds what changed between two snapshots of the database by that
-- column (sql/040_sequence.sql). No trigger runs on INSERT into messages.
-- Desks and clients, written far less often, note what they change in
-- desk_changes from triggers (sql/030_desk_changes.sql).
--
-- events becomes the log proper, written by the sequencer alone: numbered rows
-- only, one per change, narrow (what changed, not its JSON: a replay renders the
-- rows as they are then). A message's row may name its desk (desk): the
-- update_helpdesk numbered right after it (position + 1).

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

DROP INDEX events_unnumbered_idx;
DROP INDEX events_position_idx;
DROP INDEX events_organization_position_idx;
ALTER TABLE events DROP COLUMN id, DROP COLUMN data, ADD COLUMN desk uuid;
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

-- Desks whose JSON changed other than by a message written to them: their row,
-- their client, their last message deleted or moved away. Written by triggers,
-- read by the sequencer like messages, by written_by.
CREATE TABLE desk_changes (
  desk_id uuid NOT NULL,
  written_by xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX desk_changes_written_by_idx ON desk_changes (written_by);

-- A desk's JSON up to its last message (sql/020_json.sql, deskwire.desk_prefix),
-- kept by triggers on help_desks and clients: a new message changes only what
-- follows it, so sending its desk costs a lookup, not the desk's rendering.
CREATE TABLE desk_prefixes (
  desk_id uuid PRIMARY KEY REFERENCES help_desks (id) ON DELETE CASCADE,
  organization text NOT NULL,
  prefix text NOT NULL
);

-- Where the sequencer is: every message change committed as of messages_seen, and
-- every desk_changes row committed as of others_seen, is in the log; `position`
-- is the last one given. Written with each window it logs.
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
DROP TABLE desk_prefixes;
DROP TABLE desk_changes;
DROP INDEX messages_written_by_idx;
ALTER TABLE messages DROP COLUMN written_by, DROP COLUMN created_by;
CREATE SEQUENCE event_positions AS bigint;
SELECT setval('event_positions', coalesce(max(position), 0) + 1000000) FROM events;
DROP INDEX events_organization_position_idx;
ALTER TABLE events DROP CONSTRAINT events_pkey;
-- The JSON of past events is not kept: they go, and with them any resume from before.
UPDATE event_log SET pruned_through = greatest(pruned_through, (SELECT coalesce(max(position), 0) FROM events));
DELETE FROM events;
ALTER TABLE events ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ADD COLUMN data json NOT NULL,
  DROP COLUMN desk, ALTER COLUMN position DROP NOT NULL, ALTER COLUMN organization DROP NOT NULL;
CREATE UNIQUE INDEX events_position_idx ON events (position) WHERE position IS NOT NULL;
CREATE INDEX events_organization_position_idx ON events (organization, position) WHERE position IS NOT NULL;
CREATE INDEX events_unnumbered_idx ON events (id) WHERE position IS NULL;
