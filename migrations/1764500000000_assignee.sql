-- Assignment: the agent (a token's `sub`) a help desk is assigned to, or nobody.
-- Shown as "assignee" in every HelpDesk (sql/020_json.sql); the desks' kept
-- prefixes are rendered again once sql/ is applied (deskwire.fill_desk_prefixes).

-- Up Migration

ALTER TABLE help_desks ADD COLUMN assignee text
  CONSTRAINT help_desks_assignee_check CHECK (assignee IS NULL OR length(assignee) BETWEEN 1 AND 256);
CREATE INDEX help_desks_assignee_idx ON help_desks (organization, assignee) WHERE assignee IS NOT NULL;

-- Down Migration

DROP INDEX help_desks_assignee_idx;
ALTER TABLE help_desks DROP COLUMN assignee;
