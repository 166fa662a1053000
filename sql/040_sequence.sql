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
-- Messages and the rest (desks, clients, desk_changes) are looked at apart, each
-- with its own last snapshot: the messages' window is the hot path, a statement
-- of few steps, and the rest is looked at only when it changed.
--
-- Positions follow the order windows are taken in: one sequencer, one window at a
-- time, each committed before the next is taken. A reader that has seen position P
-- has seen everything below it: that is what makes `?since=` resumes exact.
--
-- Each NOTIFY payload is lines of "<position> <organization> <type> <data>", and
-- for a message that is now its desk's last, a tab and the desk's JSON (the
-- update_helpdesk at position + 1); as many lines as fit in 7,900 bytes
-- (PostgreSQL refuses 8,000 and would abort the commit). A line over 3,900 bytes
-- is sent as "<position> <organization>" and the gateway reads it from the log.
-- JSON text holds no raw newline or tab. The gateway makes the frames.

-- The protocol before this one: writers logged rows and rang a sleeping sequencer.
DROP PROCEDURE IF EXISTS deskwire.run_sequencer(int, int, int, boolean, bigint, boolean);
DROP FUNCTION IF EXISTS deskwire.sequence_events(int, bigint);
DROP FUNCTION IF EXISTS deskwire.sequencer_may_sleep(boolean);
DROP FUNCTION IF EXISTS deskwire.ring_sequencer();
DROP FUNCTION IF EXISTS deskwire.notify(text[]);
DROP FUNCTION IF EXISTS deskwire.event_payload(text, bigint, text, json);
DROP FUNCTION IF EXISTS deskwire.sequencer_lead();
DROP FUNCTION IF EXISTS deskwire.frame(text, text, bigint);
DROP FUNCTION IF EXISTS deskwire.changed_since(pg_snapshot);
DROP FUNCTION IF EXISTS deskwire.sequence_window(pg_snapshot, bigint, integer);
DROP PROCEDURE IF EXISTS deskwire.run_sequencer(integer, integer, integer, integer, integer, pg_snapshot, bigint);

CREATE OR REPLACE FUNCTION deskwire.lock_key(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtext('deskwire.' || name)::bigint
$$;

-- Sends lines as NOTIFY payloads of at most 7,900 bytes each.
CREATE OR REPLACE FUNCTION deskwire.notify_lines(lines text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  first int := 1;
  bytes int := 0;
BEGIN
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

-- A logged row as a payload line (see the top of this file). STABLE, as the
-- bigint-to-text it does is: declared IMMUTABLE it would not be inlined, and a sql
-- function that is not inlined is planned at every call.
CREATE OR REPLACE FUNCTION deskwire.payload_line(pos bigint, organization text, type text, data text, desk text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length(data) + coalesce(octet_length(desk), 0) <= 3800
    THEN pos || ' ' || organization || ' ' || type || ' ' || coalesce(data, '{}') || coalesce(E'\t' || desk, '')
    ELSE pos || ' ' || organization
  END
$$;

-- What changed after prev (messages) and after others (the rest), as of upto:
-- one statement, so the answers hold for upto. A cheap look before a window.
CREATE OR REPLACE FUNCTION deskwire.changed_since(prev pg_snapshot, others pg_snapshot,
  OUT upto pg_snapshot, OUT messages boolean, OUT rest boolean)
LANGUAGE plpgsql SET enable_seqscan = off SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  others_lo xid8 := pg_snapshot_xmax(others);
  others_stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
BEGIN
  SELECT pg_current_snapshot(),
    EXISTS (SELECT 1 FROM messages WHERE written_by >= lo)
      OR EXISTS (SELECT 1 FROM messages WHERE written_by = ANY (stragglers)),
    deskwire.others_changed(others_lo, others_stragglers)
  INTO upto, messages, rest;
END
$$;

-- Whether a desk, client or desk_changes row was written in the window above lo
-- and among stragglers (in the calling statement's snapshot). plpgsql, not sql:
-- with its subqueries a sql function is not inlined, and is planned at every call
-- (2.6 ms here).
CREATE OR REPLACE FUNCTION deskwire.others_changed(lo xid8, stragglers xid8[]) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM help_desks WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM help_desks WHERE written_by = ANY (stragglers))
    OR EXISTS (SELECT 1 FROM clients WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM clients WHERE written_by = ANY (stragglers))
    OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by >= lo)
    OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by = ANY (stragglers));
END
$$;

-- The messages' window after prev: numbers, logs and sends it, and returns its end
-- (upto), the last position given, and whether the rest changed after others as
-- of upto (if not, others may move to upto too). Callers take turns (the lead).
--
-- A message written in the window is a new_message if it was created in it too (an
-- insert and an update in one window are one new_message, with the row as it is),
-- else an update_message. One that is now its desk's last message also changed
-- the desk: the row carries the desk's JSON, the update_helpdesk right after it.
-- Data is the row as of the window's end: the same functions a REST answer uses.
-- A window of more than max_rows changed rows (a bulk import) logs nothing here
-- (too_large): deskwire.sequence_resync sends it instead.
--
-- Rows are found by their keys whatever the statistics say (no seqscan, hash or
-- merge join), in one generic plan without JIT.
CREATE OR REPLACE FUNCTION deskwire.sequence_messages(prev pg_snapshot, others pg_snapshot, last_position bigint, max_rows int,
  OUT upto pg_snapshot, OUT positions bigint, OUT too_large boolean, OUT rest boolean)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  others_lo xid8 := pg_snapshot_xmax(others);
  others_stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
  lines text[];
BEGIN
  WITH
  changed AS MATERIALIZED (
    (SELECT m AS row, m.created_by >= lo OR m.created_by = ANY (stragglers) AS is_new
     FROM messages m WHERE m.written_by >= lo
     UNION ALL
     SELECT m, m.created_by >= lo OR m.created_by = ANY (stragglers)
     FROM messages m WHERE m.written_by = ANY (stragglers))
    LIMIT max_rows + 1
  ),
  logged AS (
    INSERT INTO events (position, organization, type, ref, data, desk)
    SELECT last_position + 2 * row_number() OVER (ORDER BY (x.row).created_at, (x.row).id) - 1, d.organization,
      CASE WHEN x.is_new THEN 'new_message' ELSE 'update_message' END, (x.row).id, x.data,
      CASE WHEN last.id = (x.row).id THEN deskwire.desk_json(d, c, x.data) END
    FROM (SELECT row, is_new, deskwire.message_json(row) AS data FROM changed) x
    JOIN help_desks d ON d.id = (x.row).help_desk_id
    JOIN clients c ON c.id = d.client_id
    LEFT JOIN LATERAL (
      SELECT l.id FROM messages l WHERE l.help_desk_id = d.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
    ) last ON true
    WHERE (SELECT count(*) FROM changed) <= max_rows
    RETURNING position, organization, type, data, desk
  ),
  window_end AS (
    SELECT pg_current_snapshot() AS upto, deskwire.others_changed(others_lo, others_stragglers) AS rest
  ),
  saved AS (
    UPDATE sequencer SET messages_seen = w.upto,
      others_seen = CASE WHEN w.rest THEN others_seen ELSE w.upto END,
      position = (SELECT max(position + CASE WHEN desk IS NULL THEN 0 ELSE 1 END) FROM logged)
    FROM window_end w
    WHERE EXISTS (SELECT 1 FROM logged)
  )
  SELECT w.upto, w.rest, (SELECT count(*) FROM changed) > max_rows,
    (SELECT max(position + CASE WHEN desk IS NULL THEN 0 ELSE 1 END) FROM logged),
    (SELECT array_agg(deskwire.payload_line(position, organization, type, data, desk) ORDER BY position) FROM logged)
  INTO upto, rest, too_large, positions, lines
  FROM window_end w;
  positions := coalesce(positions, last_position);
  PERFORM deskwire.notify_lines(lines);
END
$$;

-- The rest's window after others: an update_helpdesk for each desk whose row,
-- client or desk_changes note was written in it (once per desk), numbered after
-- last_position. More than max_rows desks (a bulk import): one resync_required
-- per organization instead.
CREATE OR REPLACE FUNCTION deskwire.sequence_desks(others pg_snapshot, last_position bigint, max_rows int,
  OUT upto pg_snapshot, OUT positions bigint)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(others);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
  lines text[];
BEGIN
  WITH
  touched AS MATERIALIZED (
    SELECT DISTINCT t.desk FROM (
      SELECT d.id AS desk FROM help_desks d WHERE d.written_by >= lo
      UNION ALL
      SELECT d.id FROM help_desks d WHERE d.written_by = ANY (stragglers)
      UNION ALL
      SELECT d.id FROM clients c JOIN help_desks d ON d.client_id = c.id WHERE c.written_by >= lo
      UNION ALL
      SELECT d.id FROM clients c JOIN help_desks d ON d.client_id = c.id WHERE c.written_by = ANY (stragglers)
      UNION ALL
      SELECT x.desk_id FROM desk_changes x WHERE x.written_by >= lo
      UNION ALL
      SELECT x.desk_id FROM desk_changes x WHERE x.written_by = ANY (stragglers)
    ) t
  ),
  too_large AS (
    SELECT count(*) > max_rows AS v FROM (SELECT 1 FROM touched LIMIT max_rows + 1) x
  ),
  desks AS (
    SELECT d.organization, d.id, d.updated_at, deskwire.help_desk_json(d, c, last) AS data
    FROM touched t
    JOIN help_desks d ON d.id = t.desk
    JOIN clients c ON c.id = d.client_id
    LEFT JOIN LATERAL (
      SELECT * FROM messages l WHERE l.help_desk_id = d.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
    ) last ON true
    WHERE NOT (SELECT v FROM too_large)
  ),
  resync AS (
    SELECT DISTINCT d.organization
    FROM touched t JOIN help_desks d ON d.id = t.desk
    WHERE (SELECT v FROM too_large)
  ),
  logged AS (
    INSERT INTO events (position, organization, type, ref, data)
    SELECT last_position + row_number() OVER (ORDER BY e.at, e.ref), e.organization, e.type, e.ref, e.data
    FROM (
      SELECT organization, 'update_helpdesk' AS type, id AS ref, data, updated_at AS at FROM desks
      UNION ALL
      SELECT organization, 'resync_required', '00000000-0000-0000-0000-000000000000', NULL, NULL FROM resync
    ) e
    RETURNING position, organization, type, data
  ),
  window_end AS (
    SELECT pg_current_snapshot() AS upto
  ),
  saved AS (
    UPDATE sequencer SET others_seen = w.upto, position = (SELECT max(position) FROM logged)
    FROM window_end w
    WHERE EXISTS (SELECT 1 FROM logged)
  )
  SELECT w.upto, (SELECT max(position) FROM logged),
    (SELECT array_agg(deskwire.payload_line(position, organization, type, data, NULL) ORDER BY position) FROM logged)
  INTO upto, positions, lines
  FROM window_end w;
  positions := coalesce(positions, last_position);
  PERFORM deskwire.notify_lines(lines);
END
$$;

-- The messages' window after prev when it is too large to send row by row: each
-- organization with a message in it gets one resync_required (its agents reload
-- over REST), logged like any event.
CREATE OR REPLACE FUNCTION deskwire.sequence_resync(prev pg_snapshot, last_position bigint,
  OUT upto pg_snapshot, OUT positions bigint)
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  lines text[];
BEGIN
  WITH
  organizations AS (
    SELECT DISTINCT d.organization
    FROM (SELECT help_desk_id FROM messages WHERE written_by >= lo
          UNION ALL SELECT help_desk_id FROM messages WHERE written_by = ANY (stragglers)) m
    JOIN help_desks d ON d.id = m.help_desk_id
  ),
  logged AS (
    INSERT INTO events (position, organization, type, ref)
    SELECT last_position + row_number() OVER (ORDER BY organization), organization, 'resync_required', '00000000-0000-0000-0000-000000000000'
    FROM organizations
    RETURNING position, organization, type
  ),
  window_end AS (
    SELECT pg_current_snapshot() AS upto
  ),
  saved AS (
    UPDATE sequencer SET messages_seen = w.upto, position = (SELECT max(position) FROM logged)
    FROM window_end w
    WHERE EXISTS (SELECT 1 FROM logged)
  )
  SELECT w.upto, coalesce((SELECT max(position) FROM logged), last_position),
    (SELECT array_agg(deskwire.payload_line(position, organization, type, NULL, NULL) ORDER BY position) FROM logged)
  INTO upto, positions, lines
  FROM window_end w;
  PERFORM deskwire.notify_lines(lines);
END
$$;

-- The sequencer at work, inside the database: looks every poll_ms for finished
-- transactions (a snapshot that moved), sends the windows they make, commits, and
-- returns after max_ms with where it is, so a gateway that went away leaves no
-- loop behind for long. One CALL a second: a round trip per millisecond cost the
-- gateway more CPU than its fan-out. Idle for idle_ms, it looks every
-- idle_poll_ms instead: an idle database costs it a fraction of a percent of a
-- core, and the first event after a lull a few milliseconds more.
CREATE OR REPLACE PROCEDURE deskwire.run_sequencer(max_ms int, idle_ms int, poll_ms int, idle_poll_ms int, max_rows int,
  INOUT prev pg_snapshot, INOUT others pg_snapshot, INOUT last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  last_change timestamptz := clock_timestamp();
  busy boolean := false; -- the last window had messages: look again without asking first
  upto pg_snapshot;
  messages_changed boolean;
  rest_changed boolean;
  too_large boolean;
  positions bigint;
BEGIN
  LOOP
    -- A snapshot moves only when a transaction that wrote something ends.
    IF busy OR pg_current_snapshot()::text <> prev::text THEN
      messages_changed := true;
      rest_changed := true;
      IF NOT busy THEN
        SELECT x.upto, x.messages, x.rest INTO upto, messages_changed, rest_changed FROM deskwire.changed_since(prev, others) x;
      END IF;
      positions := last_position;
      IF messages_changed THEN
        SELECT x.upto, x.positions, x.too_large, x.rest INTO upto, positions, too_large, rest_changed
        FROM deskwire.sequence_messages(prev, others, last_position, max_rows) x;
        IF too_large THEN
          SELECT x.upto, x.positions INTO upto, positions FROM deskwire.sequence_resync(prev, last_position) x;
          rest_changed := true;
        END IF;
      END IF;
      busy := positions > last_position;
      prev := upto;
      last_position := positions;
      IF rest_changed THEN
        SELECT x.upto, x.positions INTO others, positions FROM deskwire.sequence_desks(others, last_position, max_rows) x;
        busy := busy OR positions > last_position;
        last_position := positions;
      ELSE
        others := upto; -- nothing else changed as of the same snapshot
      END IF;
      IF busy THEN
        last_change := clock_timestamp();
      END IF;
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
CREATE OR REPLACE FUNCTION deskwire.sequencer_lead(OUT leader boolean, OUT prev pg_snapshot, OUT others pg_snapshot, OUT last_position bigint)
LANGUAGE plpgsql AS $$
BEGIN
  leader := pg_try_advisory_lock(deskwire.lock_key('sequencer'));
  IF NOT leader THEN
    RETURN;
  END IF;
  -- This one commit waits for its flush: a skip lost to a crash could be repeated.
  PERFORM set_config('synchronous_commit', 'on', true);
  UPDATE sequencer s SET position = greatest(s.position, (SELECT coalesce(max(e.position), 0) FROM events e)) + 1000000
  RETURNING s.messages_seen, s.others_seen, s.position INTO prev, others, last_position;
END
$$;
