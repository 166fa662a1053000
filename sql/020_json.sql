-- What each object looks like as JSON, decided once. The REST routes select these
-- functions and the sequencer sends them, so an event and a REST answer for the
-- same row are the same bytes. The seed's key order, no spaces.
--
-- Written out as text rather than with json_build_object: that looks up the type
-- of every argument at every call, and made rendering most of the sequencer's work
-- (docs/architecture.md). Every
-- value that is not a uuid, a timestamp or a CHECKed word goes through
-- json_string, which quotes and escapes it.

-- Hot paths (every event, every REST answer): each function here is either a single
-- expression that PostgreSQL inlines into the calling query (language sql, no
-- subquery, volatility no lower than what it calls) or plpgsql, whose plans are
-- cached per session. A non-inlined sql function is planned anew at every call,
-- at a cost the writers once paid on every message.

-- ISO 8601, always UTC, microseconds: the same text whatever the writer's TimeZone.
-- STABLE, as to_char is: declared IMMUTABLE it would not be inlined.
CREATE OR REPLACE FUNCTION deskwire.iso(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
$$;

-- A stored file is a path under MEDIA_DIR, served by the REST server at /media/.
CREATE OR REPLACE FUNCTION deskwire.media_url(file text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN file IS NULL THEN NULL
    WHEN file ~ '^(/|[a-z][a-z0-9+.-]*://)' THEN file
    ELSE '/media/' || file
  END
$$;

-- A text as a JSON string ("..." with escapes), or null.
CREATE OR REPLACE FUNCTION deskwire.json_string(t text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(to_json(t)::text, 'null')
$$;

CREATE OR REPLACE FUNCTION deskwire.client_json(c clients) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"uuid":"' || c.id
    || '","created_at":"' || deskwire.iso(c.created_at)
    || '","updated_at":"' || deskwire.iso(c.updated_at)
    || '","name":' || deskwire.json_string(c.name)
    || ',"phone":' || deskwire.json_string(c.phone)
    || '}'
$$;

-- type and status are words from their CHECK constraints: nothing to escape.
CREATE OR REPLACE FUNCTION deskwire.message_json(m messages) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"created_at":"' || deskwire.iso(m.created_at)
    || '","updated_at":"' || deskwire.iso(m.updated_at)
    || '","uuid":"' || m.id
    || '","message":' || deskwire.json_string(m.message)
    || ',"file":' || deskwire.json_string(deskwire.media_url(m.file))
    || ',"type":"' || m.type
    || '","status":"' || m.status
    || '","help_desk":"' || m.help_desk_id
    || '"}'
$$;

-- A desk's JSON up to its last message: everything but what a new message
-- changes. Kept per desk in desk_prefixes (sql/030_desk_changes.sql).
CREATE OR REPLACE FUNCTION deskwire.desk_prefix(d help_desks, c clients) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"created_at":"' || deskwire.iso(d.created_at)
    || '","updated_at":"' || deskwire.iso(d.updated_at)
    || '","uuid":"' || d.id
    || '","client":' || deskwire.client_json(c)
    || ',"assignee":' || deskwire.json_string(d.assignee)
    || ',"last_message":'
$$;

-- A desk from its prefix and its last message's JSON (NULL: none yet, {} as the
-- seed answered).
CREATE OR REPLACE FUNCTION deskwire.desk_json(prefix text, last_message text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT prefix || coalesce(last_message, '{}') || '}'
$$;

-- A desk from its rows: the desk, its client and its last message (NULL: none
-- yet). One expression, inlined: callers that render many desks join the rows.
CREATE OR REPLACE FUNCTION deskwire.help_desk_json(d help_desks, c clients, last messages) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT deskwire.desk_json(deskwire.desk_prefix(d, c), CASE WHEN last.id IS NULL THEN NULL ELSE deskwire.message_json(last) END)
$$;

