-- A new message's event row is as narrow as a row can be: (type, ref). The writer
-- no longer looks up the desk's organization; the sequencer, which joins the desk
-- anyway to render the event, writes it when it numbers the row, so every numbered
-- row has one. (Not a CHECK: each statement on events would load and run it, and
-- writers pay for every microsecond here.)

-- Up Migration

ALTER TABLE events ALTER COLUMN organization DROP NOT NULL;

-- Down Migration

DELETE FROM events WHERE organization IS NULL;
ALTER TABLE events ALTER COLUMN organization SET NOT NULL;
