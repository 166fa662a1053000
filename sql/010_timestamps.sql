-- updated_at is the database's job, so psql and other services keep it right too.
-- So is a message's written_by: every version of it names the transaction that
-- wrote it, which is how the sequencer finds what changed (sql/040_sequence.sql).
-- Inserts get it from the column default, updates from the trigger here (whatever
-- the writer sets).

CREATE SCHEMA IF NOT EXISTS deskwire;

CREATE OR REPLACE FUNCTION deskwire.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END
$$;

-- A message also keeps who created it (new_message or update_message), and a move
-- to another desk, or a new created_at, may change which message is the old desk's
-- last: the new row version cannot tell, so the old desk is noted.
CREATE OR REPLACE FUNCTION deskwire.touch_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  NEW.written_by := pg_current_xact_id();
  NEW.created_by := OLD.created_by;
  IF NEW.help_desk_id <> OLD.help_desk_id OR NEW.created_at <> OLD.created_at THEN
    INSERT INTO desk_changes (desk_id) VALUES (OLD.help_desk_id);
  END IF;
  RETURN NEW;
END
$$;

-- A desk's organization is its client's: let writers omit it.
CREATE OR REPLACE FUNCTION deskwire.help_desk_organization() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.organization IS NULL THEN
    SELECT c.organization INTO NEW.organization FROM clients c WHERE c.id = NEW.client_id;
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER _100_timestamps BEFORE UPDATE ON clients
  FOR EACH ROW EXECUTE FUNCTION deskwire.touch_updated_at();
CREATE OR REPLACE TRIGGER _100_timestamps BEFORE UPDATE ON help_desks
  FOR EACH ROW EXECUTE FUNCTION deskwire.touch_updated_at();
CREATE OR REPLACE TRIGGER _100_timestamps BEFORE UPDATE ON messages
  FOR EACH ROW EXECUTE FUNCTION deskwire.touch_message();
CREATE OR REPLACE TRIGGER _110_organization BEFORE INSERT ON help_desks
  FOR EACH ROW EXECUTE FUNCTION deskwire.help_desk_organization();
