-- Row changes -> NOTIFY deskwire. The gateway LISTENs on that one channel.
--
-- Each payload is a JSON array of events {"org", "type", "data"}, as many as fit.
-- PostgreSQL refuses payloads of 8000 bytes or more and aborts the writer's
-- transaction, so an event too large to inline (a 60 KB message, say) is sent as a
-- reference {"org", "type", "ref"} and the gateway reads the object with the same
-- JSON function. Triggers are per statement, not per row: a bulk write sends a few
-- payloads, not one per row.

CREATE OR REPLACE FUNCTION deskwire.event(org text, type text, ref uuid, data json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN octet_length(inline::text) <= 7000 THEN inline::text
    ELSE json_build_object('org', org, 'type', type, 'ref', ref)::text
  END
  FROM json_build_object('org', org, 'type', type, 'data', data) AS inline
$$;

CREATE OR REPLACE FUNCTION deskwire.notify(events text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  batch text := '';
  e text;
BEGIN
  FOREACH e IN ARRAY events LOOP
    IF batch <> '' AND octet_length(batch) + octet_length(e) + 3 > 7900 THEN
      PERFORM pg_notify('deskwire', '[' || batch || ']');
      batch := '';
    END IF;
    batch := CASE WHEN batch = '' THEN e ELSE batch || ',' || e END;
  END LOOP;
  IF batch <> '' THEN
    PERFORM pg_notify('deskwire', '[' || batch || ']');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION deskwire.help_desk_event(d help_desks) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT deskwire.event(d.organization, 'update_helpdesk', d.id, deskwire.help_desk_json(d))
$$;

-- new_message for each row, then update_helpdesk for each desk: its last_message changed.
CREATE OR REPLACE FUNCTION deskwire.notify_messages_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.notify(
    ARRAY(
      SELECT deskwire.event(d.organization, 'new_message', m.id, deskwire.message_json(m))
      FROM inserted m JOIN help_desks d ON d.id = m.help_desk_id
      ORDER BY m.created_at, m.id
    ) || ARRAY(
      SELECT deskwire.help_desk_event(d)
      FROM help_desks d
      WHERE d.id IN (SELECT help_desk_id FROM inserted)
      ORDER BY d.created_at, d.id
    ));
  RETURN NULL;
END
$$;

-- update_message for each row; update_helpdesk for each desk whose last_message is
-- among the rows, or that a row moved out of or reordered in.
CREATE OR REPLACE FUNCTION deskwire.notify_messages_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.notify(
    ARRAY(
      SELECT deskwire.event(d.organization, 'update_message', m.id, deskwire.message_json(m))
      FROM updated m JOIN help_desks d ON d.id = m.help_desk_id
      ORDER BY m.created_at, m.id
    ) || ARRAY(
      SELECT deskwire.help_desk_event(d)
      FROM help_desks d
      WHERE (d.id IN (SELECT help_desk_id FROM updated)
             AND (deskwire.last_message(d.id)).id IN (SELECT id FROM updated))
         OR d.id IN (
             SELECT o.help_desk_id
             FROM previous o JOIN updated n ON n.id = o.id
             WHERE n.help_desk_id <> o.help_desk_id OR n.created_at <> o.created_at)
      ORDER BY d.created_at, d.id
    ));
  RETURN NULL;
END
$$;

-- No event names a deleted message, but a desk that lost its last one changed.
CREATE OR REPLACE FUNCTION deskwire.notify_messages_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.notify(ARRAY(
    SELECT deskwire.help_desk_event(d)
    FROM help_desks d
    WHERE EXISTS (
      SELECT 1 FROM deleted o
      WHERE o.help_desk_id = d.id
        AND NOT EXISTS (
          SELECT 1 FROM messages m
          WHERE m.help_desk_id = d.id AND (m.created_at, m.id) > (o.created_at, o.id)))
    ORDER BY d.created_at, d.id));
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION deskwire.notify_help_desks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.notify(ARRAY(
    SELECT deskwire.help_desk_event(d) FROM changed d ORDER BY d.created_at, d.id));
  RETURN NULL;
END
$$;

-- A desk shows its client: renaming the client changes every desk of it.
CREATE OR REPLACE FUNCTION deskwire.notify_clients_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deskwire.notify(ARRAY(
    SELECT deskwire.help_desk_event(d)
    FROM help_desks d
    WHERE d.client_id IN (SELECT id FROM updated)
    ORDER BY d.created_at, d.id));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER _900_notify_insert AFTER INSERT ON messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_messages_inserted();
CREATE OR REPLACE TRIGGER _900_notify_update AFTER UPDATE ON messages
  REFERENCING OLD TABLE AS previous NEW TABLE AS updated
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_messages_updated();
CREATE OR REPLACE TRIGGER _900_notify_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_messages_deleted();
CREATE OR REPLACE TRIGGER _900_notify_insert AFTER INSERT ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_help_desks_changed();
CREATE OR REPLACE TRIGGER _900_notify_update AFTER UPDATE ON help_desks
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_help_desks_changed();
CREATE OR REPLACE TRIGGER _900_notify_update AFTER UPDATE ON clients
  REFERENCING NEW TABLE AS updated
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_clients_updated();
