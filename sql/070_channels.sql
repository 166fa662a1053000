-- Channels (CONTRACT §10): outgoing messages become graphile-worker jobs, from the
-- sequencer's window rather than the writer's transaction (graphile-worker's
-- add_jobs NOTIFYs, and a NOTIFY at commit is a lock every committing writer
-- queues on). What a provider sends back goes through the functions below, so
-- REST and any SQL writer do the same.

-- Delivery jobs for the outgoing messages (type sent, status sending, as the window
-- saw them) ids, of organizations (the same order) with a channel: graphile-worker
-- batch jobs of up to 32 messages
-- ({"message": id} each, of any organizations), all added by one add_jobs (one
-- NOTIFY) per window. Called by deskwire.sequence_messages. A job per message would
-- be a row with four indexes per message, written on the writers' cores and WAL; a
-- batch is one row per window (writes spread over many organizations: batches by
-- organization would be a message each). A message seen again (edited
-- while it waits) lands in a second job: delivery_claims keeps it to its first.
-- max_attempts is high on purpose: the task gives up after DELIVERY_MAX_ATTEMPTS
-- (its own setting) and marks the message failed, so no job is left dead in the queue.
CREATE OR REPLACE FUNCTION deskwire.enqueue_deliveries(ids uuid[], organizations text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  specs graphile_worker.job_spec[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM channels) THEN
    RETURN;
  END IF;
  SELECT array_agg(ROW('deskwire.deliver', b.payload, NULL, NULL, 1000, NULL, NULL, NULL)::graphile_worker.job_spec)
  INTO specs
  FROM (
    SELECT json_agg(json_build_object('message', o.id) ORDER BY o.n) AS payload
    FROM unnest(ids, organizations) WITH ORDINALITY AS o (id, organization, n)
    WHERE o.organization IN (SELECT c.organization FROM channels c)
    GROUP BY (o.n - 1) / 32
  ) b;
  IF specs IS NOT NULL THEN
    PERFORM graphile_worker.add_jobs(specs);
  END IF;
END
$$;

-- What a channel receives for an outgoing message: {"event", "message", "help_desk"},
-- the same JSON the REST API and the events show. NULL: the message is gone.
CREATE OR REPLACE FUNCTION deskwire.outbound_body(message uuid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT '{"event":"message.outbound","message":' || deskwire.message_json(m)
    || ',"help_desk":' || deskwire.help_desk_json(d, c, last) || '}'
  FROM messages m
  JOIN help_desks d ON d.id = m.help_desk_id
  JOIN clients c ON c.id = d.client_id
  LEFT JOIN LATERAL (
    SELECT l FROM messages l WHERE l.help_desk_id = d.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
  ) x ON true
  CROSS JOIN LATERAL (SELECT (x.l).*) last
  WHERE m.id = outbound_body.message
$$;

-- The messages of a delivery job that it is to deliver, with what it needs: those
-- still outgoing and sending, of an organization with a channel, that no other
-- living job has claimed. A claim is the job that first ran the message; it holds
-- through that job's retries and is released when the message is settled
-- (release_deliveries), so two jobs never deliver one message, even at once (the
-- primary key decides). A claim whose job is gone (a crash) passes to the next.
CREATE OR REPLACE FUNCTION deskwire.claim_deliveries(job bigint, ids uuid[])
RETURNS TABLE (message uuid, organization text, kind text, url text, secret text, body text)
LANGUAGE sql AS $$
  WITH claimed AS (
    INSERT INTO delivery_claims AS d (message_id, job_id)
    SELECT DISTINCT m.id, claim_deliveries.job
    FROM messages m
    WHERE m.id = ANY (claim_deliveries.ids) AND m.type = 'sent' AND m.status = 'sending'
    ON CONFLICT (message_id) DO UPDATE SET job_id = excluded.job_id, claimed_at = clock_timestamp()
    WHERE d.job_id = excluded.job_id
       OR NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.id = d.job_id)
    RETURNING d.message_id
  )
  SELECT m.id, h.organization, c.kind, c.url, c.secret, deskwire.outbound_body(m.id)
  FROM claimed
  JOIN messages m ON m.id = claimed.message_id
  JOIN help_desks h ON h.id = m.help_desk_id
  JOIN channels c ON c.organization = h.organization
$$;

-- A job's messages that are settled (sent, failed, or no longer its to send).
CREATE OR REPLACE FUNCTION deskwire.release_deliveries(job bigint, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM delivery_claims d WHERE d.job_id = release_deliveries.job AND d.message_id = ANY (release_deliveries.ids)
$$;

-- A status only moves forward: sending -> sent -> delivered -> read; failed only
-- from sending or sent (a message read was delivered, whatever a late report says).
CREATE OR REPLACE FUNCTION deskwire.status_may_move(from_status text, to_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE to_status
    WHEN 'failed' THEN from_status IN ('sending', 'sent')
    ELSE array_position(ARRAY['sending', 'sent', 'delivered', 'read'], to_status)
       > coalesce(array_position(ARRAY['sending', 'sent', 'delivered', 'read'], from_status), 5)
  END
$$;

-- Moves an outgoing message's status forward (an update_message event); false if
-- it is not one of that organization's or the move would go back.
CREATE OR REPLACE FUNCTION deskwire.advance_status(organization text, message uuid, status text) RETURNS boolean
LANGUAGE sql AS $$
  WITH moved AS (
    UPDATE messages m SET status = advance_status.status
    FROM help_desks h
    WHERE m.id = advance_status.message AND h.id = m.help_desk_id AND h.organization = advance_status.organization
      AND m.type = 'sent' AND deskwire.status_may_move(m.status, advance_status.status)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM moved)
$$;

-- A message from a client, as a provider reports it: the client found by phone or
-- made (channel_contacts), its latest desk or a new one, a received message. An
-- external_id already stored returns that message with created false; two
-- concurrent deliveries of it store it once (the primary key decides).
CREATE OR REPLACE FUNCTION deskwire.receive_inbound(organization text, external_id text, phone text, name text, text text,
  OUT message uuid, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  client uuid;
  desk uuid;
BEGIN
  SELECT i.message_id INTO message FROM inbound_messages i
  WHERE i.organization = receive_inbound.organization AND i.external_id = receive_inbound.external_id;
  IF FOUND THEN
    created := false;
    RETURN;
  END IF;
  SELECT k.client_id INTO client FROM channel_contacts k
  WHERE k.organization = receive_inbound.organization AND k.phone = receive_inbound.phone;
  IF NOT FOUND THEN
    INSERT INTO clients (organization, name, phone)
    VALUES (receive_inbound.organization, coalesce(nullif(receive_inbound.name, ''), receive_inbound.phone), receive_inbound.phone)
    RETURNING id INTO client;
    INSERT INTO channel_contacts (organization, phone, client_id) VALUES (receive_inbound.organization, receive_inbound.phone, client)
    ON CONFLICT ON CONSTRAINT channel_contacts_pkey DO NOTHING;
    IF NOT FOUND THEN -- another request made the contact first: theirs stands, ours goes
      DELETE FROM clients WHERE id = client;
      SELECT k.client_id INTO client FROM channel_contacts k
      WHERE k.organization = receive_inbound.organization AND k.phone = receive_inbound.phone;
    END IF;
  END IF;
  SELECT h.id INTO desk FROM help_desks h WHERE h.client_id = client ORDER BY h.created_at DESC, h.id DESC LIMIT 1;
  IF NOT FOUND THEN
    INSERT INTO help_desks (client_id) VALUES (client) RETURNING id INTO desk;
  END IF;
  INSERT INTO messages (help_desk_id, message, type, status) VALUES (desk, text, 'received', 'delivered') RETURNING id INTO message;
  INSERT INTO inbound_messages (organization, external_id, message_id) VALUES (receive_inbound.organization, receive_inbound.external_id, receive_inbound.message)
  ON CONFLICT ON CONSTRAINT inbound_messages_pkey DO NOTHING;
  IF NOT FOUND THEN -- stored meanwhile by a concurrent delivery of the same external_id
    DELETE FROM messages WHERE id = receive_inbound.message;
    SELECT i.message_id INTO message FROM inbound_messages i
    WHERE i.organization = receive_inbound.organization AND i.external_id = receive_inbound.external_id;
    created := false;
    RETURN;
  END IF;
  created := true;
END
$$;

-- The echo channel's reply to an outgoing message: "echo: <text>" from the client,
-- on the same desk, once (keyed in inbound_messages like a provider's message).
CREATE OR REPLACE FUNCTION deskwire.echo_reply(organization text, message uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  reply uuid;
BEGIN
  INSERT INTO messages (help_desk_id, message, type, status)
  SELECT m.help_desk_id, 'echo: ' || coalesce(m.message, m.file), 'received', 'delivered'
  FROM messages m JOIN help_desks h ON h.id = m.help_desk_id
  WHERE m.id = echo_reply.message AND h.organization = echo_reply.organization
    AND NOT EXISTS (SELECT 1 FROM inbound_messages i WHERE i.organization = echo_reply.organization AND i.external_id = 'echo:' || echo_reply.message)
  RETURNING id INTO reply;
  IF reply IS NOT NULL THEN
    INSERT INTO inbound_messages (organization, external_id, message_id) VALUES (echo_reply.organization, 'echo:' || echo_reply.message, reply);
  END IF;
END
$$;
