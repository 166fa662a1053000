-- A revoked or deleted API key loses its open sockets at once, whoever revoked it:
-- `npm run cli -- key revoke`, an UPDATE from psql, another service. The gateway
-- listens on deskwire_revoked (src/domain.ts). api_keys is written rarely, so this
-- NOTIFY costs the writers of messages nothing.
CREATE OR REPLACE FUNCTION deskwire.notify_keys_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('deskwire_revoked', o.id::text) FROM old_keys o WHERE o.revoked_at IS NULL;
  ELSE
    PERFORM pg_notify('deskwire_revoked', n.id::text)
    FROM new_keys n JOIN old_keys o ON o.id = n.id
    WHERE n.revoked_at IS NOT NULL AND o.revoked_at IS NULL;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER api_keys_revoked AFTER UPDATE ON api_keys
  REFERENCING OLD TABLE AS old_keys NEW TABLE AS new_keys
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_keys_revoked();

CREATE OR REPLACE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
  REFERENCING OLD TABLE AS old_keys
  FOR EACH STATEMENT EXECUTE FUNCTION deskwire.notify_keys_revoked();
