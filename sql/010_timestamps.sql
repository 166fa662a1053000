-- updated_at is the database's job, so psql and other services keep it right too.

CREATE SCHEMA IF NOT EXISTS deskwire;

CREATE OR REPLACE FUNCTION deskwire.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
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
  FOR EACH ROW EXECUTE FUNCTION deskwire.touch_updated_at();
CREATE OR REPLACE TRIGGER _110_organization BEFORE INSERT ON help_desks
  FOR EACH ROW EXECUTE FUNCTION deskwire.help_desk_organization();
