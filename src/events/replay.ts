import type { Sql } from 'postgres';

/** A resume asking for more than this is told to reload over REST instead. */
export const maxReplay = 10_000;

/**
 * The frames of an organization's events after `since`, up to `upto` (what the
 * gateway has already published live), in order; or 'resync' when `since` is out
 * of reach: pruned by retention, ahead of the log, or more than maxReplay behind.
 */
export async function replay(sql: Sql, organization: string, since: number, upto: number): Promise<string[] | 'resync'> {
  if (since > upto) return 'resync';
  if (since === upto) return [];
  const [log] = await sql`SELECT pruned_through FROM event_log`;
  if (since < Number(log!.pruned_through)) return 'resync';
  const rows = await sql<{ frame: string }[]>`
    SELECT frame FROM events
    WHERE organization = ${organization} AND position > ${since} AND position <= ${upto}
    ORDER BY position
    LIMIT ${maxReplay + 1}`;
  if (rows.length > maxReplay) return 'resync';
  return rows.map((r) => r.frame);
}
