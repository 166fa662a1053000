-- Events are numbered, and their JSON written, by the gateway's sequencer
-- (sql/040_sequence.sql), no longer in each writer's transaction. A writer's row
-- says only what changed (organization, type, ref); its INSERT touches the heap,
-- the primary key and the small index of unnumbered events: the others are partial.

-- Up Migration

ALTER TABLE events DROP COLUMN xid;
ALTER TABLE events ALTER COLUMN data DROP NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_position_key;
DROP INDEX events_organization_position_idx;
DROP INDEX events_created_at_idx;
-- Replay, catch-up and pruning, in position order.
CREATE UNIQUE INDEX events_position_idx ON events (position) WHERE position IS NOT NULL;
-- Resume: an organization's events after a position.
CREATE INDEX events_organization_position_idx ON events (organization, position) WHERE position IS NOT NULL;
-- The sequencer's work list.
CREATE INDEX events_unnumbered_idx ON events (id) WHERE position IS NULL;

-- Down Migration

DROP INDEX events_unnumbered_idx;
DROP INDEX events_organization_position_idx;
DROP INDEX events_position_idx;
CREATE INDEX events_created_at_idx ON events (created_at);
CREATE INDEX events_organization_position_idx ON events (organization, position);
ALTER TABLE events ADD CONSTRAINT events_position_key UNIQUE (position);
DELETE FROM events WHERE data IS NULL;
ALTER TABLE events ALTER COLUMN data SET NOT NULL;
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_unpositioned_idx ON events (xid, id) WHERE position IS NULL;
