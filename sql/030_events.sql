-- Row changes -> rows of the event log (table events). A row names what changed
-- (type, ref, and but for new messages organization) and no more: the writer pays
-- for one narrow INSERT; the sequencer writes the JSON when it numbers the event.
-- Triggers are per statement, with transition tables: a bulk change adds its
-- events in one INSERT per kind.
-- Nothing is sent from here: the writer only adds rows (and, if no sequencer is
-- awake, rings for one: deskwire.ring_sequencer); sql/040_sequence.sql numbers and
-- sends them.

-- Replaced by the event log (earlier versions notified from these triggers).
DROP TRIGGER IF EXISTS _900_notify_insert ON messages;
DROP TRIGGER IF EXISTS _900_notify_update ON messages;
DROP TRIGGER IF EXISTS _900_notify_delete ON messages;
DROP TRIGGER IF EXISTS _900_notify_insert ON help_desks;
DROP TRIGGER IF EXISTS _900_notify_update ON help_desks;
DROP TRIGGER IF EXISTS _900_notify_update ON clients;
DROP FUNCTION IF EXISTS deskwire.notify_messages_inserted();
DROP FUNCTION IF EXISTS deskwire.notify_messages_updated();
DROP FUNCTION IF EXISTS deskwire.notify_messages_deleted();
DROP FUNCTION IF EXISTS deskwire.notify_help_desks_changed();
DROP FUNCTION IF EXISTS deskwire.notify_clients_updated();
DROP FUNCTION IF EXISTS deskwire.help_desk_event(help_desks);
DROP FUNCTION IF EXISTS deskwire.event(text, text, uuid, json);

-- update_helpdesk for each of these desks, oldest first.
CREATE OR REPLACE FUNCTION deskwire.log_help_desks(desk_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (organization, type, ref)
  SELECT d.organization, 'update_helpdesk', d.id
  FROM help_desks d
  WHERE d.id = ANY (desk_ids)
  ORDER BY d.created_at, d.id;
  IF FOUND THEN
    PERFORM deskwire.ring_sequencer();
  END IF;
END
$$;

-- new_message for each row. This runs for every message written, so it writes
-- rows as narrow as a row can be: no join to the desk, whose organization the
-- sequencer fills in when it numbers the row, and no update_helpdesk: the
-- sequencer adds the desk's (its last_message changed) once per desk per batch
-- (sql/040_sequence.sql). Per statement, like the others: a one-row INSERT costs a
-- writer what a row trigger would (~60 us here, with the ring), and a 20,000-row
-- INSERT nothing measurable, where a row trigger added 14 us a row.
CREATE OR REPLACE FUNCTION deskwire.log_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, ref)
  SELECT 'new_message', m.id FROM inserted m ORDER BY m.created_at, m.id;
  IF FOUND THEN
    PERFORM deskwire.ring_sequencer();
  END IF;
  RETURN NULL;
END
$$;

-- update_message for each row; update_helpdesk for each desk whose last_message is
-- among the rows, or that a row moved out of or reordered in.
CREATE OR REPLACE FUNCTION deskwire.log_messages_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (organization, type, ref)
  SELECT d.organization, 'update_message', m.id
  FROM updated m JOIN help_desks d ON d.id = m.help_desk_id
  ORDER BY m.created_at, m.id;
  IF FOUND THEN
    PERFORM deskwire.ring_sequencer();
  END IF;
  PERFORM deskwire.log_help_desks(ARRAY(
    SELECT d.id FROM help_desks d
    WHERE (d.id IN (SELECT help_desk_id FROM updated)
           AND (deskwire.last_message(d.id)).id IN (SELECT id FROM updated))
       OR d.id IN (
           SELECT o.help_desk_id
           FROM previous o JOIN updated n ON n.id = o.id
           WHERE n.help_desk_id <> o.help_desk_id OR n.created_at <> o.created_at)));
  RETURN NULL;
END
$$;

-- No event names a deleted message, but a desk that lost its last one changed.
CREATE OR REPLACE FUNCTION deskwire.log_messages_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.log_help_desks(ARRAY(
    SELECT d.id FROM help_desks d
    WHERE EXISTS (
      SELECT 1 FROM deleted o
      WHERE o.help_desk_id = d.id
        AND NOT EXISTS (
          SELECT 1 FROM messages m
          WHERE m.help_desk_id = d.id AND (m.created_at, m.id) > (o.created_at, o.id)))));
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION deskwire.log_help_desks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.log_help_desks(ARRAY(SELECT id FROM changed));
  RETURN NULL;
END
$$;

-- A desk shows its client: renaming the client changes every desk of it.
CREATE OR REPLACE FUNCTION deskwire.log_clients_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.log_help_desks(ARRAY(SELECT d.id FROM help_desks d WHERE d.client_id IN (SELECT id FROM updated)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER _800_events_insert AFTER INSERT ON messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_messages_inserted();
-- A row trigger for a while: replaced by the statement trigger above.
DROP FUNCTION IF EXISTS deskwire.log_message_inserted();
CREATE OR REPLACE TRIGGER _800_events_update AFTER UPDATE ON messages
  REFERENCING OLD TABLE AS previous NEW TABLE AS updated
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_messages_updated();
CREATE OR REPLACE TRIGGER _800_events_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_messages_deleted();
CREATE OR REPLACE TRIGGER _800_events_insert AFTER INSERT ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_help_desks_changed();
CREATE OR REPLACE TRIGGER _800_events_update AFTER UPDATE ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_help_desks_changed();
CREATE OR REPLACE TRIGGER _800_events_update AFTER UPDATE ON clients
  REFERENCING NEW TABLE AS updated
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.log_clients_updated();
