-- The event log: every event the triggers emit is also a row here, so a client that
-- reconnects, or a gateway whose LISTEN connection dropped, catches up from it.

-- Up Migration

CREATE SEQUENCE event_positions AS bigint;

CREATE TABLE events (
  -- Insert order, within the writer's transaction.
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Commit order: given at commit (trigger _900_position) while a lock orders commits,
  -- so a position becomes visible only after every lower one. NULL until then.
  position bigint UNIQUE,
  organization text NOT NULL,
  type text NOT NULL,
  -- The row the event is about (message or help desk).
  ref uuid NOT NULL,
  -- The object as it was when the event was written.
  data json NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Resume: an organization's events after a position.
CREATE INDEX events_organization_position_idx ON events (organization, position);
-- Positioning a transaction's own events at its commit.
CREATE INDEX events_unpositioned_idx ON events (xid, id) WHERE position IS NULL;
-- Pruning by age.
CREATE INDEX events_created_at_idx ON events (created_at);

-- Positions at or below this were pruned: a resume from before it must reload.
CREATE TABLE event_log (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO event_log DEFAULT VALUES;

-- Down Migration

DROP TABLE event_log;
DROP TABLE events;
DROP SEQUENCE event_positions;
