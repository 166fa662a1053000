-- Changed rows and room events -> numbered events -> NOTIFY deskwire_events, by
-- one sequencer; writers do nothing for it.
--
-- Why not the writers, how a window of committed changes is found between two
-- snapshots, and why positions make resumes exact: docs/architecture.md.

-- Each NOTIFY payload (channel deskwire_events) is lines of "<position>
-- <organization> <type> <topic> <data>", and for a message that is now its desk's
-- last, a tab and the desk's JSON (the update_helpdesk at position + 1); as many
-- lines as fit in 7,900 bytes (PostgreSQL refuses 8,000 and would abort the
-- commit). <topic> is what decides which sockets get it: the help desk's uuid, or
-- "<room event uuid>/<room>", or "-" (a resync_required: every socket of the
-- organization). A line over 3,900 bytes is sent as "<position> <organization>"
-- and the gateway reads it from the log. JSON text holds no raw newline or tab.
-- The gateway makes the frames.

CREATE OR REPLACE FUNCTION deskwire.lock_key(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtext('deskwire.' || name)::bigint
$$;

-- The sequencer's session runs with enable_seqscan, enable_hashjoin and
-- enable_mergejoin off, plan_cache_mode = force_generic_plan and jit off
-- (src/events/sequencer.ts): rows are found by their keys whatever the statistics
-- say (a young table's statistics once planned a batch as a scan of the whole
-- table per row), and a plan is made once. As SET clauses here they would cost
-- every call its own SETs.

-- Sends lines as NOTIFY payloads of at most 7,900 bytes each.
CREATE OR REPLACE FUNCTION deskwire.notify_lines(lines text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  first int := 1;
  bytes int := 0;
BEGIN
  FOR i IN 1 .. coalesce(array_length(lines, 1), 0) LOOP
    IF i > first AND bytes + octet_length(lines[i]) + 1 > 7900 THEN
      PERFORM pg_notify('deskwire_events', array_to_string(lines[first:i - 1], E'\n'));
      first := i;
      bytes := 0;
    END IF;
    bytes := bytes + octet_length(lines[i]) + 1;
  END LOOP;
  IF bytes > 0 THEN
    PERFORM pg_notify('deskwire_events', array_to_string(lines[first:], E'\n'));
  END IF;
END
$$;

-- A change as a payload line (see the top of this file). STABLE, as the
-- bigint-to-text it does is: declared IMMUTABLE it would not be inlined, and a sql
-- function that is not inlined is planned at every call.
CREATE OR REPLACE FUNCTION deskwire.payload_line(pos bigint, organization text, type text, topic text, data text, desk text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN coalesce(octet_length(data), 2) + coalesce(octet_length(desk), 0) + octet_length(topic) <= 3800
    THEN pos || ' ' || organization || ' ' || type || ' ' || topic || ' ' || coalesce(data, '{}') || coalesce(E'\t' || desk, '')
    ELSE pos || ' ' || organization
  END
$$;

-- What was written after prev (messages) and after others (desk_changes and
-- room_events), as of upto: one statement, so both answers hold for upto. A cheap
-- look before a window.
CREATE OR REPLACE FUNCTION deskwire.changed_since(prev pg_snapshot, others pg_snapshot,
  OUT upto pg_snapshot, OUT messages boolean, OUT desks boolean)
LANGUAGE plpgsql AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  others_lo xid8 := pg_snapshot_xmax(others);
  others_stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
BEGIN
  SELECT pg_current_snapshot(),
    EXISTS (SELECT 1 FROM messages WHERE written_by >= lo)
      OR EXISTS (SELECT 1 FROM messages WHERE written_by = ANY (stragglers)),
    EXISTS (SELECT 1 FROM desk_changes WHERE written_by >= others_lo)
      OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by = ANY (others_stragglers))
      OR EXISTS (SELECT 1 FROM room_events WHERE written_by >= others_lo)
      OR EXISTS (SELECT 1 FROM room_events WHERE written_by = ANY (others_stragglers))
  INTO upto, messages, desks;
END
$$;

-- The messages' window after prev: numbers, logs and sends it; returns its end
-- (upto), the last position given, and whether desk_changes or room_events had
-- rows after others as of upto (if not, others may move to upto too). Callers take turns (the lead).
--
-- A message written in the window is a new_message if it was created in it too (an
-- insert and an update in one window are one new_message, with the row as it is),
-- else an update_message. One that is now its desk's last message also changed
-- the desk: the update_helpdesk right after it. Data is the row as of the window's
-- end: the same functions a REST answer uses. A window of more than max_rows
-- changed rows (a bulk import) logs nothing here (too_large):
-- deskwire.sequence_resync sends it instead. Outgoing messages of the window
-- become delivery jobs here too (deskwire.enqueue_deliveries).
--
-- Two statements: the first reads and renders the window, with the snapshot it
-- ends at; the second only logs what the first found. Kept to a few plan steps:
-- on this hot path each one costs every window.
CREATE OR REPLACE FUNCTION deskwire.sequence_messages(prev pg_snapshot, others pg_snapshot, last_position bigint, max_rows int,
  OUT upto pg_snapshot, OUT positions bigint, OUT too_large boolean, OUT desks boolean)
LANGUAGE plpgsql AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  others_lo xid8 := pg_snapshot_xmax(others);
  others_stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
  n int;
  at bigint[];
  organizations text[];
  types text[];
  refs uuid[];
  desk_ids uuid[];
  help_desks uuid[];
  assignees text[];
  lines text[];
  outbound uuid[];
  outbound_of text[]; -- their organizations
BEGIN
  SELECT pg_current_snapshot(),
    EXISTS (SELECT 1 FROM desk_changes WHERE written_by >= others_lo)
      OR EXISTS (SELECT 1 FROM desk_changes WHERE written_by = ANY (others_stragglers))
      OR EXISTS (SELECT 1 FROM room_events WHERE written_by >= others_lo)
      OR EXISTS (SELECT 1 FROM room_events WHERE written_by = ANY (others_stragglers)),
    count(*), array_agg(w.position), array_agg(w.organization), array_agg(w.type), array_agg(w.ref), array_agg(w.desk),
    array_agg(w.help_desk), array_agg(w.assignee),
    array_agg(deskwire.payload_line(w.position, w.organization, w.type, w.help_desk::text, w.data, w.desk_data)),
    array_agg(w.ref) FILTER (WHERE w.outbound), array_agg(w.organization) FILTER (WHERE w.outbound)
  INTO upto, desks, n, at, organizations, types, refs, desk_ids, help_desks, assignees, lines, outbound, outbound_of
  FROM (
    SELECT last_position + 2 * row_number() OVER () - 1 AS position,
      coalesce(p.organization, (SELECT h.organization FROM help_desks h WHERE h.id = (x.row).help_desk_id)) AS organization,
      CASE WHEN x.is_new THEN 'new_message' ELSE 'update_message' END AS type,
      (x.row).id AS ref, x.data, (x.row).help_desk_id AS help_desk,
      (x.row).type = 'sent' AND (x.row).status = 'sending' AS outbound,
      CASE WHEN p.desk_id IS NULL THEN (SELECT h.assignee FROM help_desks h WHERE h.id = (x.row).help_desk_id) ELSE p.assignee END AS assignee,
      CASE WHEN last.id = (x.row).id THEN (x.row).help_desk_id END AS desk,
      CASE WHEN last.id = (x.row).id THEN deskwire.desk_json(coalesce(p.prefix,
        (SELECT deskwire.desk_prefix(h, c) FROM help_desks h JOIN clients c ON c.id = h.client_id WHERE h.id = (x.row).help_desk_id)), x.data) END AS desk_data
    FROM (
      -- In written_by order, as the index scans give it: the stragglers (below lo)
      -- first. A transaction that began after another committed has the higher id,
      -- so a write that follows another gets the later position even when both fall
      -- in one window (the one before it still running when the last window was taken).
      -- Sorted, not left to the scans: a bitmap scan returns heap order, which a
      -- row written later into space freed earlier breaks (seen under a steady writer).
      SELECT c.row, c.is_new, deskwire.message_json(c.row) AS data FROM (
        SELECT m AS row, m.written_by AS w, m.created_by >= lo OR m.created_by = ANY (stragglers) AS is_new FROM messages m WHERE m.written_by = ANY (stragglers)
        UNION ALL
        SELECT m, m.written_by, m.created_by >= lo OR m.created_by = ANY (stragglers) FROM messages m WHERE m.written_by >= lo
        ORDER BY w LIMIT max_rows + 1) c
    ) x
    LEFT JOIN desk_prefixes p ON p.desk_id = (x.row).help_desk_id
    LEFT JOIN LATERAL (
      SELECT l.id FROM messages l WHERE l.help_desk_id = (x.row).help_desk_id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
    ) last ON true
  ) w;
  too_large := n > max_rows;
  positions := last_position;
  IF n = 0 OR too_large THEN
    RETURN;
  END IF;
  INSERT INTO events (position, organization, type, ref, desk, help_desk, assignee)
  SELECT * FROM unnest(at, organizations, types, refs, desk_ids, help_desks, assignees);
  positions := last_position + 2 * n;
  PERFORM deskwire.notify_lines(lines);
  IF outbound IS NOT NULL THEN
    PERFORM deskwire.enqueue_deliveries(outbound, outbound_of); -- sql/070_channels.sql
  END IF;
END
$$;

-- The others window after others: one update_helpdesk per desk noted in
-- desk_changes, then the room events, in the order they were written; numbered
-- after last_position. More than max_rows desks, or room events (a bulk import):
-- one resync_required per organization instead.
--
-- Room events are read by a second statement, which sees rows committed after upto
-- too: pg_visible_in_snapshot keeps it to the same window.
CREATE OR REPLACE FUNCTION deskwire.sequence_desks(others pg_snapshot, last_position bigint, max_rows int,
  OUT upto pg_snapshot, OUT positions bigint)
LANGUAGE plpgsql AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(others);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(others));
  n int;
  organizations text[];
  refs uuid[];
  datas text[];
  assignees text[];
  rooms text[];
  types text[];
BEGIN
  SELECT pg_current_snapshot(), count(*), array_agg(w.organization ORDER BY w.desk), array_agg(w.desk ORDER BY w.desk),
    array_agg(w.data ORDER BY w.desk), array_agg(w.assignee ORDER BY w.desk)
  INTO upto, n, organizations, refs, datas, assignees
  FROM (
    SELECT t.desk, p.organization, p.assignee, deskwire.desk_json(p.prefix, deskwire.message_json(last)) AS data
    FROM (
      SELECT DISTINCT x.desk FROM (
        SELECT desk_id AS desk FROM desk_changes WHERE written_by >= lo
        UNION ALL
        SELECT desk_id FROM desk_changes WHERE written_by = ANY (stragglers)
        LIMIT max_rows + 1) x
    ) t
    JOIN desk_prefixes p ON p.desk_id = t.desk
    LEFT JOIN LATERAL (
      SELECT * FROM messages l WHERE l.help_desk_id = t.desk ORDER BY l.created_at DESC, l.id DESC LIMIT 1
    ) last ON true
  ) w;
  positions := last_position;
  IF n > max_rows THEN
    positions := deskwire.sequence_resync_of(ARRAY(SELECT DISTINCT unnest(organizations)), positions);
  ELSIF n > 0 THEN
    INSERT INTO events (position, organization, type, ref, help_desk, assignee)
    SELECT positions + o.k, o.organization, 'update_helpdesk', o.ref, o.ref, o.assignee
    FROM unnest(organizations, refs, assignees) WITH ORDINALITY o(organization, ref, assignee, k);
    PERFORM deskwire.notify_lines(ARRAY(
      SELECT deskwire.payload_line(positions + o.k, o.organization, 'update_helpdesk', o.ref::text, o.data, NULL)
      FROM unnest(organizations, refs, datas) WITH ORDINALITY o(organization, ref, data, k)));
    positions := positions + n;
  END IF;

  SELECT count(*), array_agg(r.organization ORDER BY r.n), array_agg(r.id ORDER BY r.n), array_agg(r.room ORDER BY r.n),
    array_agg(r.type ORDER BY r.n), array_agg(r.data::text ORDER BY r.n)
  INTO n, organizations, refs, rooms, types, datas
  FROM (
    SELECT * FROM (
      SELECT * FROM room_events WHERE written_by >= lo
      UNION ALL
      SELECT * FROM room_events WHERE written_by = ANY (stragglers)
    ) x WHERE pg_visible_in_snapshot(x.written_by, upto)
    LIMIT max_rows + 1
  ) r;
  IF n > max_rows THEN
    positions := deskwire.sequence_resync_of(ARRAY(SELECT DISTINCT unnest(organizations)), positions);
  ELSIF n > 0 THEN
    INSERT INTO events (position, organization, type, ref, room, data)
    SELECT positions + o.k, o.organization, o.type, o.ref, o.room, o.data::jsonb
    FROM unnest(organizations, types, refs, rooms, datas) WITH ORDINALITY o(organization, type, ref, room, data, k);
    PERFORM deskwire.notify_lines(ARRAY(
      SELECT deskwire.payload_line(positions + o.k, o.organization, o.type, o.ref || '/' || o.room, o.data, NULL)
      FROM unnest(organizations, types, refs, rooms, datas) WITH ORDINALITY o(organization, type, ref, room, data, k)));
    positions := positions + n;
  END IF;
END
$$;

-- One resync_required per organization, logged and sent, numbered after
-- last_position; returns the last position given.
CREATE OR REPLACE FUNCTION deskwire.sequence_resync_of(organizations text[], last_position bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (position, organization, type, ref)
  SELECT last_position + o.k, o.organization, 'resync_required', '00000000-0000-0000-0000-000000000000'
  FROM unnest(organizations) WITH ORDINALITY o(organization, k);
  PERFORM deskwire.notify_lines(ARRAY(
    SELECT deskwire.payload_line(last_position + o.k, o.organization, 'resync_required', '-', NULL, NULL)
    FROM unnest(organizations) WITH ORDINALITY o(organization, k)));
  RETURN last_position + coalesce(array_length(organizations, 1), 0);
END
$$;

-- The messages' window after prev when it is too large to send row by row: each
-- organization with a message in it gets one resync_required (its agents reload
-- over REST), logged like any event. Its outgoing messages still become jobs.
CREATE OR REPLACE FUNCTION deskwire.sequence_resync(prev pg_snapshot, last_position bigint,
  OUT upto pg_snapshot, OUT positions bigint)
LANGUAGE plpgsql AS $$
DECLARE
  lo xid8 := pg_snapshot_xmax(prev);
  stragglers xid8[] := ARRAY(SELECT pg_snapshot_xip(prev));
  organizations text[];
  outbound uuid[];
  outbound_of text[]; -- their organizations
BEGIN
  SELECT pg_current_snapshot(), array_agg(DISTINCT d.organization), array_agg(m.id) FILTER (WHERE m.outbound),
    array_agg(d.organization) FILTER (WHERE m.outbound)
  INTO upto, organizations, outbound, outbound_of
  FROM (SELECT help_desk_id, id, type = 'sent' AND status = 'sending' AS outbound FROM messages WHERE written_by >= lo
        UNION ALL SELECT help_desk_id, id, type = 'sent' AND status = 'sending' FROM messages WHERE written_by = ANY (stragglers)) m
  JOIN help_desks d ON d.id = m.help_desk_id;
  positions := deskwire.sequence_resync_of(organizations, last_position);
  IF outbound IS NOT NULL THEN
    PERFORM deskwire.enqueue_deliveries(outbound, outbound_of); -- a bulk import of outgoing messages is delivered all the same
  END IF;
END
$$;

-- The help desk a logged event belongs to (NULL: a room event or a
-- resync_required). Rows logged before events.help_desk existed have it from their rows.
CREATE OR REPLACE FUNCTION deskwire.event_desk(e events) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(e.help_desk, CASE
    WHEN e.type = 'update_helpdesk' THEN e.ref
    WHEN e.type IN ('new_message', 'update_message') THEN (SELECT m.help_desk_id FROM messages m WHERE m.id = e.ref)
  END)
$$;

-- A logged event's topic field, as in a NOTIFY line (see the top of this file).
CREATE OR REPLACE FUNCTION deskwire.event_topic(e events) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN e.room IS NOT NULL THEN e.ref || '/' || e.room ELSE coalesce(deskwire.event_desk(e)::text, '-') END
$$;

-- Logged events, rendered as their rows are now: an organization's in
-- [since, upto] (a replay), or every organization's from since on (organization
-- NULL: a catch-up), at most max rows. data is NULL for a change whose row is gone.
CREATE OR REPLACE FUNCTION deskwire.logged_events(of_organization text, since bigint, upto bigint, max int)
RETURNS TABLE ("position" bigint, organization text, type text, topic text, data text, desk text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
    SELECT e.position, e.organization, e.type, deskwire.event_topic(e),
      coalesce(e.data::text, deskwire.changed_data(e.type, e.ref)), deskwire.changed_data('update_helpdesk', e.desk)
    FROM events e
    WHERE e.position >= since AND e.position <= upto AND (of_organization IS NULL OR e.organization = of_organization)
    ORDER BY e.position LIMIT max;
END
$$;

-- An organization's logged events in [since, upto], at most max of them, for a
-- socket resuming with topics: whether its topics take each row's event (takes)
-- and the desk event after it (takes_desk), and only those rendered. The topics:
-- everything (it has `org`), desks, rooms, and inbox (its agent, or NULL).
--
-- The inbox is replayed as the gateway sends it live: a desk's events go to the
-- agent its last desk event before them showed as assignee, and a desk event also
-- to the agent it shows (the one that assigns the desk). Desk events are
-- update_helpdesk rows and the ones after messages (desk set); their assignee is
-- as of their window's end.
CREATE OR REPLACE FUNCTION deskwire.replay_events(of_organization text, since bigint, upto bigint, max int,
  everything boolean, desks uuid[], rooms text[], inbox text)
RETURNS TABLE ("position" bigint, type text, topic text, takes boolean, takes_desk boolean, data text, desk text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
    SELECT y.position, y.type, y.topic, y.takes, y.takes_desk,
      CASE WHEN y.takes THEN coalesce(y.data::text, deskwire.changed_data(y.type, y.ref)) END,
      CASE WHEN y.takes_desk THEN deskwire.changed_data('update_helpdesk', y.desk) END
    FROM (
      SELECT x.position, x.type, x.topic, x.ref, x.data, x.desk,
        CASE
          WHEN x.type = 'resync_required' THEN true
          WHEN x.room IS NOT NULL THEN x.room = ANY (rooms)
          WHEN x.whole THEN true
          ELSE coalesce(x.owner_before = inbox, false) OR (x.type = 'update_helpdesk' AND x.assignee = inbox)
        END AS takes,
        x.desk IS NOT NULL AND (x.whole OR coalesce(x.owner_before = inbox OR x.assignee = inbox, false)) AS takes_desk
      FROM (
        SELECT e.position, e.type, e.ref, e.data, e.desk, e.room, e.assignee, deskwire.event_topic(e) AS topic,
          everything OR deskwire.event_desk(e) = ANY (desks) AS whole,
          CASE WHEN inbox IS NOT NULL AND e.help_desk IS NOT NULL THEN (
            SELECT b.assignee FROM events b
            WHERE b.help_desk = e.help_desk AND b.position < e.position AND (b.type = 'update_helpdesk' OR b.desk IS NOT NULL)
            ORDER BY b.position DESC LIMIT 1)
          END AS owner_before
        FROM events e
        WHERE e.organization = of_organization AND e.position >= since AND e.position <= upto
        ORDER BY e.position LIMIT max
      ) x
    ) y;
END
$$;

-- The JSON of what a logged change names, as it is now (NULL: gone, or none).
CREATE OR REPLACE FUNCTION deskwire.changed_data(type text, ref uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  data text;
BEGIN
  IF ref IS NULL OR type NOT IN ('update_helpdesk', 'new_message', 'update_message') THEN
    RETURN NULL; -- a resync_required, or a room event (its data is in the log)
  ELSIF type = 'update_helpdesk' THEN
    SELECT deskwire.help_desk_json(d, c, last) INTO data
    FROM help_desks d JOIN clients c ON c.id = d.client_id
    LEFT JOIN LATERAL (
      SELECT * FROM messages l WHERE l.help_desk_id = d.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
    ) last ON true
    WHERE d.id = ref;
  ELSE
    SELECT deskwire.message_json(m) INTO data FROM messages m WHERE m.id = ref;
  END IF;
  RETURN data;
END
$$;

-- The sequencer at work, inside the database: looks every poll_ms for finished
-- transactions (a snapshot that moved), sends the windows they make, commits, and
-- returns after max_ms with where it is, so a gateway that went away leaves no
-- loop behind for long. One CALL a second: a round trip per millisecond cost the
-- gateway more CPU than its fan-out.
-- After a window that sent something it waits busy_poll_ms: while writes keep
-- coming, a window costs about the same however few rows it has, and that comes
-- out of the writers' share of the cores. After a window of heavy_rows messages or
-- more (writes pouring in: 4 in 5 ms is 800 a second) it waits heavy_poll_ms: most of
-- what a window costs, here and downstream (the gateway's NOTIFY, each socket's
-- write), is a process woken, not a row, so fewer and fuller windows leave the
-- writers their cores; it goes back to busy_poll_ms when windows thin out again.
-- Idle for idle_ms, it looks every idle_poll_ms: an idle database costs it a
-- fraction of a percent of a core, and the first event after a lull a few
-- milliseconds more.
CREATE OR REPLACE PROCEDURE deskwire.run_sequencer(max_ms int, idle_ms int, poll_ms int, busy_poll_ms int, idle_poll_ms int,
  heavy_rows int, heavy_poll_ms int, max_rows int,
  INOUT prev pg_snapshot, INOUT others pg_snapshot, INOUT last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  last_change timestamptz := clock_timestamp();
  busy boolean := false; -- the last window had messages: look again without asking first
  heavy boolean := false; -- and heavy_rows of them or more
  saved bigint := last_position; -- the position the sequencer table holds
  looked timestamptz := clock_timestamp(); -- the last look that found nothing new: a window's commits came after it
  seen timestamptz;
  upto pg_snapshot;
  messages_changed boolean;
  desks_changed boolean;
  too_large boolean;
  positions bigint;
BEGIN
  LOOP
    seen := clock_timestamp();
    -- A snapshot moves only when a transaction that wrote something ends.
    IF busy OR pg_current_snapshot()::text <> prev::text THEN
      messages_changed := true;
      IF NOT busy THEN
        SELECT x.upto, x.messages, x.desks INTO upto, messages_changed, desks_changed FROM deskwire.changed_since(prev, others) x;
      END IF;
      positions := last_position;
      IF messages_changed THEN
        SELECT x.upto, x.positions, x.too_large, x.desks INTO upto, positions, too_large, desks_changed
        FROM deskwire.sequence_messages(prev, others, last_position, max_rows) x;
        IF too_large THEN
          SELECT x.upto, x.positions INTO upto, positions FROM deskwire.sequence_resync(prev, last_position) x;
          desks_changed := true;
        END IF;
      END IF;
      busy := positions > last_position;
      heavy := positions >= last_position + 2 * heavy_rows; -- a message takes two positions
      prev := upto;
      last_position := positions;
      IF desks_changed THEN
        SELECT x.upto, x.positions INTO others, positions FROM deskwire.sequence_desks(others, last_position, max_rows) x;
        last_position := positions;
      ELSE
        others := upto; -- desk_changes had nothing new as of the same snapshot
      END IF;
      IF last_position > saved THEN
        UPDATE sequencer SET messages_seen = prev, others_seen = others, position = last_position;
        -- For the gateways' commit-to-publish histogram: the window's commits fell
        -- between these two moments (milliseconds since the epoch).
        PERFORM pg_notify('deskwire_windows', saved || ' ' || last_position || ' '
          || round(extract(epoch FROM looked) * 1000, 1) || ' ' || round(extract(epoch FROM seen) * 1000, 1));
        saved := last_position;
        last_change := clock_timestamp();
      END IF;
    END IF;
    looked := seen;
    COMMIT;
    EXIT WHEN clock_timestamp() - started > make_interval(secs => max_ms / 1000.0);
    PERFORM pg_sleep(CASE
      WHEN heavy THEN heavy_poll_ms
      WHEN busy THEN busy_poll_ms
      WHEN clock_timestamp() - last_change < make_interval(secs => idle_ms / 1000.0) THEN poll_ms
      ELSE idle_poll_ms END / 1000.0);
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

-- How long the oldest change the sequencer has not numbered yet has waited, in
-- seconds (0: none): deskwire_sequencer_lag_seconds. It grows while no sequencer
-- works. Rows are found by written_by from the sequencer's last snapshots; their
-- age is from the row's own write time (updated_at, created_at).
CREATE OR REPLACE FUNCTION deskwire.sequencer_lag() RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT coalesce(extract(epoch FROM clock_timestamp() - least(
    (SELECT min(m.updated_at) FROM messages m
      WHERE m.written_by >= pg_snapshot_xmin(s.messages_seen) AND NOT pg_visible_in_snapshot(m.written_by, s.messages_seen)),
    (SELECT min(r.created_at) FROM room_events r
      WHERE r.written_by >= pg_snapshot_xmin(s.others_seen) AND NOT pg_visible_in_snapshot(r.written_by, s.others_seen))
  )), 0)::double precision
  FROM sequencer s
$$;
