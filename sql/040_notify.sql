-- events -> positions -> NOTIFY deskwire, once per transaction, at its commit.
--
-- A deferred constraint trigger runs when the writer commits. It takes one lock that
-- orders all event-writing commits, numbers the transaction's events from the
-- sequence event_positions, and sends them. The lock is held until the commit is
-- done, so a position becomes visible only after every lower one: a reader that has
-- seen position P has seen (or will never see) everything below P. That is what
-- makes `?since=` resumes exact. (NOTIFY itself takes a global lock at commit too.)
--
-- Each payload is a JSON array of {"org", "id", "type", "data"}, as many as fit.
-- PostgreSQL refuses payloads of 8000 bytes or more (and would abort the commit),
-- so an event too large to inline is sent as {"org", "id", "type", "large": true}
-- and the gateway reads its data from the log.

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

CREATE OR REPLACE FUNCTION deskwire.position_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  done bigint := coalesce(nullif(current_setting('deskwire.positioned_through', true), ''), '0')::bigint;
  last_id bigint;
  payloads text[];
BEGIN
  -- Fired once per event row; the first firing positions them all.
  IF NEW.id <= done THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('deskwire.event_positions'));
  WITH numbered AS (
    -- Volatile output is computed after the sort: positions follow insert order.
    SELECT id, nextval('event_positions') AS position
    FROM events
    WHERE xid = pg_current_xact_id() AND position IS NULL
    ORDER BY id
  ), positioned AS (
    UPDATE events e SET position = n.position
    FROM numbered n WHERE e.id = n.id
    RETURNING e.id, e.position, e.organization, e.type, e.data
  )
  SELECT max(id), array_agg(
    CASE WHEN octet_length(inline::text) <= 7000 THEN inline::text
         ELSE json_build_object('org', organization, 'id', position, 'type', type, 'large', true)::text
    END ORDER BY position)
  INTO last_id, payloads
  FROM positioned,
       LATERAL json_build_object('org', organization, 'id', position, 'type', type, 'data', data) AS inline;
  IF last_id IS NOT NULL THEN
    PERFORM set_config('deskwire.positioned_through', last_id::text, true);
    PERFORM deskwire.notify(payloads);
  END IF;
  RETURN NULL;
END
$$;

-- CREATE OR REPLACE does not apply to constraint triggers.
DROP TRIGGER IF EXISTS _900_notify ON events;
CREATE CONSTRAINT TRIGGER _900_notify AFTER INSERT ON events
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION deskwire.position_events();
