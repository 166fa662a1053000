-- A new message's event row is as narrow as a row can be: (type, ref). The writer
-- no longer looks up the desk's organization; the sequencer, which joins the desk
-- anyway to render the event, writes it when it numbers the row.

-- Up Migration

ALTER TABLE events ALTER COLUMN organization DROP NOT NULL;
ALTER TABLE events ADD CONSTRAINT events_numbered_have_organization CHECK (position IS NULL OR organization IS NOT NULL);

-- Down Migration

DELETE FROM events WHERE organization IS NULL;
ALTER TABLE events DROP CONSTRAINT events_numbered_have_organization;
ALTER TABLE events ALTER COLUMN organization SET NOT NULL;
