-- events -> positions -> NOTIFY deskwire, by one sequencer, not by the writers.
--
-- Why not the writers: a transaction that NOTIFYs takes one global lock from just
-- before its commit until after its WAL flush, so concurrent writers lose group
-- commit (measured: 0.25x the throughput at 16 writers). Here a writer only adds
-- a narrow row to `events`. The gateway's sequencer (src/events/sequencer.ts)
-- numbers committed rows, writes their JSON and sends them, one short transaction
-- per batch: one notifying transaction per batch, however many writers there are.
--
-- How a writer's row reaches the sequencer within milliseconds without a NOTIFY:
-- while the sequencer is awake it polls every millisecond and holds the session
-- lock 'awake'. A writer checks that lock (deskwire.ring_sequencer): held, it does
-- nothing; free, it NOTIFYs deskwire_wake, which wakes the sequencer. The race at
-- falling asleep is closed by the lock 'writers', which every event-writing
-- transaction holds shared until it ends: the sequencer releases 'awake', then
-- may sleep only once it can take 'writers' exclusively - when every writer that
-- saw it awake has committed or rolled back - and after one last poll.
--
-- Positions follow commit order: sequence_events takes a lock that orders the
-- positioning transactions, so a position becomes visible only after every lower
-- one. A reader that has seen position P has seen (or will never see) everything
-- below it: that is what makes `?since=` resumes exact.
--
-- Each payload is a JSON array of {"org", "id", "type", "data"}, as many as fit.
-- PostgreSQL refuses payloads of 8000 bytes or more (and would abort the commit),
-- so an event too large to inline is sent as {"org", "id", "type", "large": true}
-- and the gateway reads its data from the log.

-- Replaced by the sequencer (earlier versions positioned at each writer's commit).
DROP TRIGGER IF EXISTS _900_notify ON events;
DROP FUNCTION IF EXISTS deskwire.position_events();

CREATE OR REPLACE FUNCTION deskwire.lock_key(name text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hashtext('deskwire.' || name)::bigint
$$;

-- Called by the event-writing functions of sql/030_events.sql, in the writer's
-- transaction, after they add rows (a function, not a trigger on events: a second
-- trigger per write cost writers about 25 us).
DROP TRIGGER IF EXISTS _900_ring ON events;
DROP FUNCTION IF EXISTS deskwire.ring();
CREATE OR REPLACE FUNCTION deskwire.ring_sequencer() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(deskwire.lock_key('writers'));
  -- Only a look at 'awake', released at once: held, it would keep the sequencer
  -- from taking it, and every writer would ring forever.
  IF pg_try_advisory_lock_shared(deskwire.lock_key('awake')) THEN
    PERFORM pg_advisory_unlock_shared(deskwire.lock_key('awake'));
    -- Sent at commit; repeats within one transaction are folded into one.
    PERFORM pg_notify('deskwire_wake', '');
  END IF;
END
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

-- Numbers up to max_events committed, unnumbered events (oldest first), writes
-- their JSON, sends them, and returns how many it took (numbered or dropped).
-- The JSON is the row as it is now, milliseconds after the writer's commit: the
-- same function a REST answer uses. An event whose row is already gone (a message
-- deleted in those milliseconds) is dropped: a later event of its desk tells the
-- change. Callers take turns.
--
-- A new message changes its desk (last_message): after the last new_message of a
-- desk in the batch comes one update_helpdesk for that desk, added here rather
-- than by the writer. A burst into one desk costs one desk event per batch, and a
-- writer one row per message.
--
-- Every row is found by its key, whatever the statistics say: a batch joined in
-- one UPDATE was once planned on a young table's statistics (0 rows) as a scan of
-- the whole table per row, and fell seconds behind. Hence the loop, no seqscan,
-- hash or merge join, and one generic plan (no JIT: its estimate of a LIMIT $1 is
-- large enough to set it off, at 30 ms a batch).
--
-- after: every unnumbered event at or below it is known to be numbered already
-- (run_sequencer's floor): the scan starts above it, not at the bottom of an index
-- full of entries for rows numbered since the last vacuum.
DROP FUNCTION IF EXISTS deskwire.sequence_events(int);
CREATE OR REPLACE FUNCTION deskwire.sequence_events(max_events int, after bigint DEFAULT 0) RETURNS int
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
  r record;
  fetched int := 0;
  n int := 0;
  pos bigint;
  payloads text[] := '{}';
BEGIN
  PERFORM pg_advisory_xact_lock(deskwire.lock_key('positions'));
  FOR r IN
    SELECT e.ctid AS row, coalesce(e.organization, d.organization) AS organization, e.type, d.id AS desk,
      CASE
        WHEN e.type = 'update_helpdesk' THEN CASE WHEN d.id IS NOT NULL THEN deskwire.help_desk_json(d, c, last) END
        WHEN m.id IS NOT NULL THEN deskwire.message_json(m)
      END AS data,
      CASE WHEN e.type = 'new_message' AND d.id IS NOT NULL
             AND row_number() OVER (PARTITION BY e.type, d.id ORDER BY e.id DESC) = 1
        THEN deskwire.help_desk_json(d, c, last)
      END AS desk_data
    FROM (SELECT ctid, * FROM events WHERE position IS NULL AND id > after ORDER BY id LIMIT max_events) e
    LEFT JOIN messages m ON e.type <> 'update_helpdesk' AND m.id = e.ref
    LEFT JOIN help_desks d ON d.id = CASE e.type WHEN 'update_helpdesk' THEN e.ref ELSE m.help_desk_id END
    LEFT JOIN clients c ON c.id = d.client_id
    LEFT JOIN LATERAL (
      SELECT * FROM messages x WHERE x.help_desk_id = d.id ORDER BY x.created_at DESC, x.id DESC LIMIT 1
    ) last ON true
    ORDER BY e.id
  LOOP
    fetched := fetched + 1;
    -- By ctid: only the sequencer changes an unnumbered row, and it holds 'positions'.
    IF r.data IS NULL THEN
      DELETE FROM events WHERE ctid = r.row;
      CONTINUE;
    END IF;
    pos := nextval('event_positions');
    UPDATE events SET position = pos, organization = r.organization, data = r.data WHERE ctid = r.row;
    payloads := payloads || deskwire.event_payload(r.organization, pos, r.type, r.data);
    n := n + 1;
    IF r.desk_data IS NOT NULL THEN
      pos := nextval('event_positions');
      INSERT INTO events (position, organization, type, ref, data)
      VALUES (pos, r.organization, 'update_helpdesk', r.desk, r.desk_data);
      payloads := payloads || deskwire.event_payload(r.organization, pos, 'update_helpdesk', r.desk_data);
      n := n + 1;
    END IF;
  END LOOP;
  IF n > 0 THEN
    PERFORM deskwire.notify(payloads);
  END IF;
  RETURN fetched;
END
$$;

-- One event as the gateway reads it from a NOTIFY: inline, or marked large (its
-- data is then read from the log).
CREATE OR REPLACE FUNCTION deskwire.event_payload(org text, id bigint, type text, data json) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  inline text := json_build_object('org', org, 'id', id, 'type', type, 'data', data)::text;
BEGIN
  IF octet_length(inline) > 7000 THEN
    RETURN json_build_object('org', org, 'id', id, 'type', type, 'large', true)::text;
  END IF;
  RETURN inline;
END
$$;

-- The sequencer going to sleep (see the top of this file); release_awake: it holds
-- 'awake' (once). False: a writer that saw it awake may still be in flight, so it
-- must poll on.
DROP FUNCTION IF EXISTS deskwire.sequencer_may_sleep();
CREATE OR REPLACE FUNCTION deskwire.sequencer_may_sleep(release_awake boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF release_awake THEN
    PERFORM pg_advisory_unlock(deskwire.lock_key('awake'));
  END IF;
  IF pg_try_advisory_lock(deskwire.lock_key('writers')) THEN
    PERFORM pg_advisory_unlock(deskwire.lock_key('writers'));
    RETURN true;
  END IF;
  RETURN false;
END
$$;

-- The sequencer's awake period, run inside the database: polls every millisecond
-- holding 'awake' (a COMMIT after each batch sends its NOTIFY), and returns when it
-- may sleep (true) or after max_ms even while busy (false), so a gateway that went
-- away leaves no loop behind for long. One CALL per awake period: a round trip per
-- millisecond cost the gateway more CPU than its fan-out.
DROP PROCEDURE IF EXISTS deskwire.run_sequencer(int, int, int, boolean);
DROP PROCEDURE IF EXISTS deskwire.run_sequencer(int, int, int, boolean, boolean);
-- holds: whether this session holds 'awake' (kept across calls, so a busy sequencer
-- never lets go of it between two of them).
--
-- floor (kept across calls too): every event with an id at or below it is numbered
-- or dropped, so scans start above it. Without it each poll walked the unnumbered
-- index from its bottom, through an entry for every row numbered since the last
-- vacuum, and that walk was most of the sequencer's work. Ids are drawn before their
-- transaction commits, so the floor may pass an id only once the transaction that
-- drew it has ended. A mark is the last id drawn, read before a batch writes; the
-- batch's own xid, assigned at its first write, is then above the xid of every
-- transaction that drew an id up to the mark. Once the snapshot's xmin reaches
-- that xid, all of them have ended; the next scan sees every such row, and the
-- floor moves to the mark. A transaction left open elsewhere holds the floor back;
-- it never makes it skip a row.
CREATE OR REPLACE PROCEDURE deskwire.run_sequencer(idle_ms int, max_ms int, max_events int, INOUT holds boolean, INOUT floor bigint DEFAULT 0, INOUT asleep boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
  last_event timestamptz := clock_timestamp();
  n int;
  mark_id bigint;
  mark_xid xid8;
  last_drawn bigint;
  ready bigint;
BEGIN
  asleep := false;
  LOOP
    IF NOT holds THEN
      holds := pg_try_advisory_lock(deskwire.lock_key('awake'));
    END IF;
    IF mark_xid IS NULL THEN
      -- A function call, not a query: this runs at every idle poll. (events_id_seq
      -- has no cache: no session holds ids below its last value; NULL: none drawn.)
      last_drawn := coalesce(pg_sequence_last_value('events_id_seq'), 0);
    ELSIF ready IS NULL AND pg_snapshot_xmin(pg_current_snapshot()) >= mark_xid THEN
      ready := mark_id; -- the scan below sees every row with an id up to it
    END IF;
    n := deskwire.sequence_events(max_events, floor);
    IF mark_xid IS NULL THEN
      mark_xid := pg_current_xact_id_if_assigned(); -- NULL if the batch wrote nothing
      mark_id := last_drawn;
    END IF;
    COMMIT;
    IF ready IS NOT NULL AND n < max_events THEN
      floor := ready;
      ready := NULL;
      mark_xid := NULL;
    END IF;
    IF n > 0 THEN
      last_event := clock_timestamp();
    ELSIF clock_timestamp() - last_event > make_interval(secs => idle_ms / 1000.0) THEN
      IF deskwire.sequencer_may_sleep(holds) THEN
        -- Every writer that saw us awake is done: one last look, then sleep.
        n := deskwire.sequence_events(max_events, floor);
        COMMIT;
        IF n = 0 THEN
          holds := false;
          asleep := true;
          RETURN;
        END IF;
        last_event := clock_timestamp();
      END IF;
      -- A writer that saw us awake is in flight: awake again at once.
      holds := pg_try_advisory_lock(deskwire.lock_key('awake'));
    END IF;
    IF clock_timestamp() - started > make_interval(secs => max_ms / 1000.0) THEN
      RETURN; -- still holding 'awake': the caller comes straight back
    END IF;
    IF n < max_events THEN
      PERFORM pg_sleep(0.001);
    END IF;
  END LOOP;
END
$$;

-- Taking the sequencer's lead. Its numbering transactions commit without waiting for
-- their flush, so a crash of PostgreSQL can lose the last numbers given (and sent):
-- those events are numbered again, and may reach a client twice. What must never
-- happen is a number given twice, to two events: a client resuming from it would
-- miss the second. The sequence is WAL-logged ahead in steps of 32, and at most
-- wal_writer_delay (200 ms) of unflushed numbering can be lost, so skipping a
-- million at each lead is far past anything a crash can have taken back.
CREATE OR REPLACE FUNCTION deskwire.sequencer_lead() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT pg_try_advisory_lock(deskwire.lock_key('sequencer')) THEN
    RETURN false;
  END IF;
  -- This one commit waits for its flush: a skip lost to a crash could be repeated.
  PERFORM set_config('synchronous_commit', 'on', true);
  PERFORM setval('event_positions', greatest(
    (SELECT last_value FROM event_positions),
    (SELECT coalesce(max(position), 0) FROM events)) + 1000000);
  RETURN true;
END
$$;
