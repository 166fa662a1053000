-- Changed rows -> numbered events -> NOTIFY deskwire, by one sequencer; writers do
-- nothing for it.
--
-- Why not the writers: a transaction that NOTIFYs takes one global lock from just
-- before its commit until after its WAL flush, so concurrent writers lose group
-- commit (measured: 0.25x the throughput at 16 writers). A trigger that logs each
-- write costs them too (0.8x at 8 writers, before anything is sent). So a writer
-- only leaves its transaction id on the rows it writes (written_by, a column
-- default; sql/010_timestamps.sql for updates), and the gateway's sequencer
-- (src/events/sequencer.ts) finds the changes.
--
-- How: the sequencer keeps the snapshot it last looked at, prev. What changed
-- since is exactly what the transactions that were not yet visible in prev, and
-- are now, wrote: rows whose written_by is at or above prev's xmax (those started
-- after it) or among prev's in-flight list (those running then). Both are index
-- scans on written_by; a row of a transaction still running is invisible to the
-- scan and comes with the next window. Taken in one statement, the scan and the
-- new snapshot agree, so every committed transaction falls in exactly one window:
-- nothing twice, nothing missed, however long a writer stays open or in whatever
-- order writers commit. A long-open transaction is one more id in the in-flight
-- list, not a reason to scan more.
--
-- Positions follow the order windows are taken in: one sequencer, one window at a
-- time, each committed before the next is taken. A reader that has seen position P
-- has seen everything below it: that is what makes `?since=` resumes exact.
--
-- Each NOTIFY payload is lines of "<position> <organization> <frame>", as many as
-- fit in 7,900 bytes (PostgreSQL refuses 8,000 and would abort the commit); a
-- frame over 3,900 bytes is sent as "<position> <organization>" and the gateway
-- reads it from the log.

-- The protocol before this one: writers logged rows and rang a sleeping sequencer.
DROP PROCEDURE IF EXISTS deskwire.run_sequencer(int, int, int, boolean, bigint, boolean);
DROP FUNCTION IF EXISTS deskwire.sequence_events(int, bigint);
DROP FUNCTION IF EXISTS deskwire.sequencer_may_sleep(boolean);
DROP FUNCTION IF EXISTS deskwire.ring_sequencer();
DROP FUNCTION IF EXISTS deskwire.notify(text[]);
DROP FUNCTION IF EXISTS deskwire.event_payload(text, bigint, text, json);
DROP FUNCTION IF EXISTS deskwire.sequencer_lead();

CREATE OR REPLACE FUNCTION deskwire.lock_key(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtext('deskwire.' || name)::bigint
$$;

-- The seed's frame: {"type", "data": "<the object as a JSON string>"}, with the
-- event's position as its id.
CREATE OR REPLACE FUNCTION deskwire.frame(type text, data text, pos bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"type":"' || type || '","data":' || to_json(data)::text || ',"id":"' || pos || '"}'
$$;

-- Whether anything was written in the window after prev, and the snapshot that
-- answer holds for (one statement: the two agree). A cheap look before a window.
CREATE OR REPLACE FUNCTION deskwire.changed_since(prev pg_snapshot, OUT changed boolean, OUT upto pg_snapshot)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
BEGIN
  SELECT pg_current_snapshot(),
    EXISTS (SELECT 1 FROM messages WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM messages WHERE written_by = ANY (stragglers))
    OR EXISTS (SELECT 1 FROM help_desks WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM help_desks WHERE written_by = ANY (stragglers))
    OR EXISTS (SELECT 1 FROM clients WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM clients WHERE written_by = ANY (stragglers))
    OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by = ANY (stragglers))
  INTO upto, changed;
END
$$;

-- Numbers, logs and sends the events of the window after prev, and returns its
-- end (upto) and the last position given. Callers take turns (the sequencer lead).
--
-- A message written in the window is a new_message if it was created in it too (an
-- insert and an update in one window are one new_message, with the row as it is),
-- else an update_message. A desk gets one update_helpdesk, after its last other
-- event: when its row, its client, or its last message changed, when it got a new
-- message, or when desk_changes names it. Data is the row as of the window's end:
-- the same functions a REST answer uses.
--
-- A window of more than max_rows changed rows (a bulk import) is not sent row by
-- row: each organization in it gets one resync_required, in the log like any
-- event, and reloads over REST.
--
-- Rows are found by their keys whatever the statistics say (no seqscan, hash or
-- merge join), in one generic plan without JIT: the plan a young table's
-- statistics once gave a batch scanned the whole table per row.
CREATE OR REPLACE FUNCTION deskwire.sequence_window(prev pg_snapshot, last_position bigint, max_rows int,
  OUT upto pg_snapshot, OUT positions bigint)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  lines text[];
  first int := 1;
  bytes int := 0;
BEGIN
  WITH
  changed_messages AS MATERIALIZED (
    SELECT m AS row, m.created_by >= lo OR m.created_by = ANY (stragglers) AS is_new
    FROM messages m WHERE m.written_by >= lo
    UNION ALL
    SELECT m, m.created_by >= lo OR m.created_by = ANY (stragglers)
    FROM messages m WHERE m.written_by = ANY (stragglers)
  ),
  changed_desks AS MATERIALIZED (
    SELECT d.id AS desk, d.updated_at AS at FROM help_desks d WHERE d.written_by >= lo
    UNION ALL
    SELECT d.id, d.updated_at FROM help_desks d WHERE d.written_by = ANY (stragglers)
    UNION ALL
    SELECT d.id, c.updated_at FROM clients c JOIN help_desks d ON d.client_id = c.id WHERE c.written_by >= lo
    UNION ALL
    SELECT d.id, c.updated_at FROM clients c JOIN help_desks d ON d.client_id = c.id WHERE c.written_by = ANY (stragglers)
    UNION ALL
    SELECT x.desk_id, clock_timestamp() FROM desk_changes x WHERE x.written_by >= lo
    UNION ALL
    SELECT x.desk_id, clock_timestamp() FROM desk_changes x WHERE x.written_by = ANY (stragglers)
  ),
  size AS (
    SELECT count(*) > max_rows AS too_large
    FROM (SELECT 1 FROM changed_messages UNION ALL SELECT 1 FROM changed_desks LIMIT max_rows + 1) x
  ),
  message_events AS MATERIALIZED (
    SELECT d.organization, (x.row).help_desk_id AS desk, (x.row).id AS ref, x.is_new,
      CASE WHEN x.is_new THEN 'new_message' ELSE 'update_message' END AS type,
      CASE WHEN x.is_new THEN (x.row).created_at ELSE (x.row).updated_at END AS at,
      deskwire.message_json(x.row) AS data
    FROM changed_messages x JOIN help_desks d ON d.id = (x.row).help_desk_id
    WHERE NOT (SELECT too_large FROM size)
  ),
  -- Per desk: when it last changed, whether that shows whatever the last message
  -- is (need), and the messages of it updated here, with their text.
  touched AS (
    SELECT t.desk, max(t.at) AS at, bool_or(t.need) AS need,
      array_agg(t.ref) FILTER (WHERE t.ref IS NOT NULL) AS refs,
      array_agg(t.data) FILTER (WHERE t.ref IS NOT NULL) AS datas
    FROM (
      SELECT e.desk, e.at, e.is_new AS need, e.ref, e.data FROM message_events e
      UNION ALL
      SELECT c.desk, c.at, true, NULL, NULL FROM changed_desks c WHERE NOT (SELECT too_large FROM size)
    ) t
    GROUP BY t.desk
  ),
  desk_events AS (
    SELECT d.organization, d.id AS ref, t.at,
      deskwire.desk_json(d, c, CASE
        WHEN last.id IS NULL THEN NULL
        WHEN last.id = ANY (t.refs) THEN t.datas[array_position(t.refs, last.id)]
        ELSE deskwire.message_json(last)
      END) AS data
    FROM touched t
    JOIN help_desks d ON d.id = t.desk
    JOIN clients c ON c.id = d.client_id
    LEFT JOIN LATERAL (
      SELECT * FROM messages x WHERE x.help_desk_id = d.id ORDER BY x.created_at DESC, x.id DESC LIMIT 1
    ) last ON true
    WHERE t.need OR last.id = ANY (t.refs)
  ),
  numbered AS (
    SELECT e.organization, e.type, e.ref, e.data, last_position + row_number() OVER (ORDER BY e.at, e.kind, e.ref) AS position
    FROM (
      SELECT organization, type, ref, data, at, 0 AS kind FROM message_events
      UNION ALL
      SELECT organization, 'update_helpdesk', ref, data, at, 1 FROM desk_events
    ) e
  ),
  resync AS (
    SELECT o.organization, last_position + row_number() OVER (ORDER BY o.organization) AS position
    FROM (
      SELECT DISTINCT d.organization
      FROM (SELECT (row).help_desk_id AS desk FROM changed_messages UNION ALL SELECT desk FROM changed_desks) w
      JOIN help_desks d ON d.id = w.desk
    ) o
    WHERE (SELECT too_large FROM size)
  ),
  logged AS (
    INSERT INTO events (position, organization, type, ref, frame)
    SELECT position, organization, type, ref, deskwire.frame(type, data, position) FROM numbered
    UNION ALL
    SELECT position, organization, 'resync_required', '00000000-0000-0000-0000-000000000000',
      '{"type":"resync_required","id":"' || position || '"}'
    FROM resync
    RETURNING position, organization, frame
  ),
  saved AS (
    UPDATE sequencer SET snapshot = pg_current_snapshot(), position = (SELECT max(position) FROM logged)
    WHERE EXISTS (SELECT 1 FROM logged)
  )
  SELECT pg_current_snapshot(), coalesce(max(l.position), last_position),
    array_agg(l.position || ' ' || l.organization || CASE WHEN octet_length(l.frame) <= 3900 THEN ' ' || l.frame ELSE '' END ORDER BY l.position)
  INTO upto, positions, lines
  FROM logged l;

  FOR i IN 1 .. coalesce(array_length(lines, 1), 0) LOOP
    IF i > first AND bytes + octet_length(lines[i]) + 1 > 7900 THEN
      PERFORM pg_notify('deskwire', array_to_string(lines[first:i - 1], E'\n'));
      first := i;
      bytes := 0;
    END IF;
    bytes := bytes + octet_length(lines[i]) + 1;
  END LOOP;
  IF bytes > 0 THEN
    PERFORM pg_notify('deskwire', array_to_string(lines[first:], E'\n'));
  END IF;
END
$$;

-- The sequencer at work, inside the database: looks every poll_ms for finished
-- transactions (a snapshot that moved), sends the window they make, commits, and
-- returns after max_ms with where it is (prev, last_position), so a gateway that
-- went away leaves no loop behind for long. One CALL a second: a round trip per
-- millisecond cost the gateway more CPU than its fan-out.
-- Idle for idle_ms, it looks every idle_poll_ms instead: an idle database costs it
-- a fraction of a percent of a core, and the first event after a lull a few
-- milliseconds more.
CREATE OR REPLACE PROCEDURE deskwire.run_sequencer(max_ms int, idle_ms int, poll_ms int, idle_poll_ms int, max_rows int,
  INOUT prev pg_snapshot, INOUT last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  last_change timestamptz := clock_timestamp();
  seen pg_snapshot;
  changed boolean;
  upto pg_snapshot;
  positions bigint;
BEGIN
  LOOP
    seen := pg_current_snapshot();
    -- A snapshot moves only when a transaction that wrote something ends.
    IF seen::text <> prev::text THEN
      SELECT c.changed, c.upto INTO changed, upto FROM deskwire.changed_since(prev) c;
      IF changed THEN
        SELECT w.upto, w.positions INTO upto, positions FROM deskwire.sequence_window(prev, last_position, max_rows) w;
        last_position := positions;
        last_change := clock_timestamp();
      END IF;
      prev := upto;
    END IF;
    COMMIT;
    EXIT WHEN clock_timestamp() - started > make_interval(secs => max_ms / 1000.0);
    PERFORM pg_sleep(CASE WHEN clock_timestamp() - last_change < make_interval(secs => idle_ms / 1000.0)
                          THEN poll_ms ELSE idle_poll_ms END / 1000.0);
  END LOOP;
END
$$;

-- Taking the sequencer's lead: where the last one stopped. Its windows commit
-- without waiting for their flush (waiting made writers' flushes queue behind
-- ours), so a crash of PostgreSQL can lose the last ones logged (and sent): those
-- changes are found again and numbered anew, and may reach a client twice. What
-- must never happen is a number given twice, to two events: a client resuming
-- from it would miss the second. At most wal_writer_delay (200 ms) of windows can
-- be lost, so skipping a million numbers at each lead is far past anything a crash
-- can have taken back.
CREATE OR REPLACE FUNCTION deskwire.sequencer_lead(OUT leader boolean, OUT prev pg_snapshot, OUT last_position bigint)
LANGUAGE plpgsql AS $$
BEGIN
  leader := pg_try_advisory_lock(deskwire.lock_key('sequencer'));
  IF NOT leader THEN
    RETURN;
  END IF;
  -- This one commit waits for its flush: a skip lost to a crash could be repeated.
  PERFORM set_config('synchronous_commit', 'on', true);
  UPDATE sequencer s SET position = greatest(s.position, (SELECT coalesce(max(e.position), 0) FROM events e)) + 1000000
  RETURNING s.snapshot, s.position INTO prev, last_position;
END
$$;
