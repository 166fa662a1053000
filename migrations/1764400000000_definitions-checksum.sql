-- sql/ is applied at a start only when its text changed (src/db/migrate.ts): its
-- checksum is kept here. Re-applying it at every start took locks that stalled
-- writers (CREATE OR REPLACE TRIGGER) and, with the DROPs it then held, gave the
-- running sequencer's functions new identities under it.
--
-- A function whose signature or result changes is dropped by the migration of
-- that change, not by sql/. This one drops, once, every function of deskwire's
-- that sql/ does not define as it is now: the signatures earlier versions
-- replaced. On a database that is up to date it drops nothing.

-- Up Migration

CREATE TABLE sql_definitions (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

DO $$
DECLARE
  f record;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS signature, p.prokind
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'deskwire'
      AND p.proname || '(' || pg_get_function_arguments(p.oid) || ') ' || coalesce(pg_get_function_result(p.oid), '') <> ALL (ARRAY[
    'changed_data(type text, ref uuid) text',
    'changed_since(prev pg_snapshot, others pg_snapshot, OUT upto pg_snapshot, OUT messages boolean, OUT desks boolean) record',
    'client_json(c clients) text',
    'desk_json(prefix text, last_message text) text',
    'desk_prefix(d help_desks, c clients) text',
    'fill_desk_prefixes() bigint',
    'help_desk_json(d help_desks, c clients, last messages) text',
    'help_desk_organization() trigger',
    'iso(ts timestamp with time zone) text',
    'json_string(t text) text',
    'lock_key(name text) bigint',
    'logged_changes(of_organization text, since bigint, upto bigint, max integer) TABLE("position" bigint, organization text, type text, data text, desk text)',
    'media_url(file text) text',
    'message_json(m messages) text',
    'note_clients_updated() trigger',
    'note_desks(desk_ids uuid[]) void',
    'note_help_desks_changed() trigger',
    'note_messages_deleted() trigger',
    'notify_lines(lines text[]) void',
    'payload_line(pos bigint, organization text, type text, data text, desk text) text',
    'run_sequencer(IN max_ms integer, IN idle_ms integer, IN poll_ms integer, IN busy_poll_ms integer, IN idle_poll_ms integer, IN heavy_rows integer, IN heavy_poll_ms integer, IN max_rows integer, INOUT prev pg_snapshot, INOUT others pg_snapshot, INOUT last_position bigint) ',
    'sequence_desks(others pg_snapshot, last_position bigint, max_rows integer, OUT upto pg_snapshot, OUT positions bigint) record',
    'sequence_messages(prev pg_snapshot, others pg_snapshot, last_position bigint, max_rows integer, OUT upto pg_snapshot, OUT positions bigint, OUT too_large boolean, OUT desks boolean) record',
    'sequence_resync(prev pg_snapshot, last_position bigint, OUT upto pg_snapshot, OUT positions bigint) record',
    'sequencer_lead(OUT leader boolean, OUT prev pg_snapshot, OUT others pg_snapshot, OUT last_position bigint) record',
    'touch_message() trigger',
    'touch_updated_at() trigger'
      ])
  LOOP
    EXECUTE format('DROP %s %s', CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.signature);
  END LOOP;
END
$$;
