-- Desks whose JSON changes other than by a message written to them. Their row, their
-- client, their last message deleted or moved away: each notes the desk in
-- desk_changes, which the sequencer reads like messages (by written_by), and the
-- first two also rewrite the desk's prefix (desk_prefixes). These are the only
-- triggers on the write path, and none runs when a message is inserted.

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

-- These desks' prefixes, from their rows as they are now, and a note that each changed.
CREATE OR REPLACE FUNCTION deskwire.note_desks(desk_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO desk_prefixes (desk_id, organization, prefix, assignee)
  SELECT d.id, d.organization, deskwire.desk_prefix(d, c), d.assignee
  FROM help_desks d JOIN clients c ON c.id = d.client_id
  WHERE d.id = ANY (desk_ids)
  ON CONFLICT (desk_id) DO UPDATE SET organization = excluded.organization, prefix = excluded.prefix, assignee = excluded.assignee;
  INSERT INTO desk_changes (desk_id) SELECT unnest(desk_ids);
END
$$;

CREATE OR REPLACE FUNCTION deskwire.note_help_desks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.note_desks(ARRAY(SELECT id FROM changed));
  RETURN NULL;
END
$$;

-- A desk shows its client: renaming the client changes every desk of it.
CREATE OR REPLACE FUNCTION deskwire.note_clients_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.note_desks(ARRAY(SELECT d.id FROM help_desks d WHERE d.client_id IN (SELECT id FROM updated)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER _800_desk_changes AFTER DELETE ON messages
  REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.note_messages_deleted();
CREATE OR REPLACE TRIGGER _800_desk_changes_insert AFTER INSERT ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.note_help_desks_changed();
CREATE OR REPLACE TRIGGER _800_desk_changes_update AFTER UPDATE ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.note_help_desks_changed();
CREATE OR REPLACE TRIGGER _800_desk_changes AFTER UPDATE ON clients
  REFERENCING NEW TABLE AS updated
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.note_clients_updated();

-- Desks written while these triggers did not run (a restore,
-- session_replication_role = replica), or kept in an older JSON shape, get their
-- prefix here: after sql/ is applied (src/db/migrate.ts), and from whoever
-- bulk-loads desks that way. Only prefixes that differ are written.
CREATE OR REPLACE FUNCTION deskwire.fill_desk_prefixes() RETURNS bigint
LANGUAGE sql AS $$
  WITH filled AS (
    INSERT INTO desk_prefixes (desk_id, organization, prefix, assignee)
    SELECT d.id, d.organization, deskwire.desk_prefix(d, c), d.assignee
    FROM help_desks d JOIN clients c ON c.id = d.client_id
    ON CONFLICT (desk_id) DO UPDATE SET organization = excluded.organization, prefix = excluded.prefix, assignee = excluded.assignee
    WHERE desk_prefixes.prefix IS DISTINCT FROM excluded.prefix OR desk_prefixes.organization IS DISTINCT FROM excluded.organization
      OR desk_prefixes.assignee IS DISTINCT FROM excluded.assignee
    RETURNING 1
  )
  SELECT count(*) FROM filled
$$;
