-- What the sequencer cannot see in a snapshot: a row that is gone. Deleting a desk's
-- last message changes the desk (its last_message), so the desk is noted in
-- desk_changes, which the sequencer reads like any other changed row. (A message
-- moved away from a desk is noted by its update trigger, sql/010_timestamps.sql.)
-- This is the one trigger left on the write path, and it runs only on DELETE.

-- The event log's writers, before the sequencer found changes by itself (their
-- triggers went with migration 1764300000000): no trigger runs on INSERT any more.
DROP FUNCTION IF EXISTS deskwire.log_messages_inserted();
DROP FUNCTION IF EXISTS deskwire.log_messages_updated();
DROP FUNCTION IF EXISTS deskwire.log_messages_deleted();
DROP FUNCTION IF EXISTS deskwire.log_help_desks_changed();
DROP FUNCTION IF EXISTS deskwire.log_clients_updated();
DROP FUNCTION IF EXISTS deskwire.log_help_desks(uuid[]);

-- Desks that lost their last message (not every desk that lost one: a desk whose
-- last message stays shows no change).
CREATE OR REPLACE FUNCTION deskwire.note_messages_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO desk_changes (desk_id)
  SELECT DISTINCT o.help_desk_id FROM deleted o
  WHERE NOT EXISTS (
    SELECT 1 FROM messages m
    WHERE m.help_desk_id = o.help_desk_id AND (m.created_at, m.id) > (o.created_at, o.id));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER _800_desk_changes AFTER DELETE ON messages
  REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.note_messages_deleted();
