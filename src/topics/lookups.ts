import type { Sql } from 'postgres';
import { uuidArray } from '../db/arrays.ts';
import type { FindDesks } from './control.ts';
import type { LoadAssigned } from './inbox.ts';

/** An inbox holds at most this many desks: past it, those least recently updated are left out. */
export const maxInboxDesks = 10_000;

/** What topics read from the database: desks that exist, and an agent's desks. */
export function topicLookups(sql: Sql): { findDesks: FindDesks; loadAssigned: LoadAssigned } {
  return {
    async findDesks(organization, desks) {
      const rows = await sql<{ id: string }[]>`
        SELECT id::text FROM help_desks WHERE organization = ${organization} AND id = ANY (${uuidArray(sql, desks)})`;
      return rows.map((r) => r.id);
    },
    async loadAssigned(organization, agent) {
      const rows = await sql<{ id: string }[]>`
        SELECT id::text FROM help_desks WHERE organization = ${organization} AND assignee = ${agent}
        ORDER BY updated_at DESC LIMIT ${maxInboxDesks}`;
      return rows.map((r) => r.id);
    },
  };
}
