import type { Sql } from 'postgres';
import { eventsOf, type LoggedChange } from './event.ts';

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
  // A change at `since` may hold the event after it (its desk's, at since + 1).
  // Rendered as the rows are now; an event whose row is gone is left out.
  const rows = await sql<(Omit<LoggedChange, 'position'> & { position: string })[]>`
    SELECT * FROM deskwire.logged_changes(${organization}, ${since}, ${upto}, ${maxReplay + 1})`;
  const frames = rows
    .flatMap((r) => eventsOf({ ...r, position: Number(r.position) }))
    .filter((e) => e.position > since && e.position <= upto)
    .map((e) => e.frame);
  return frames.length > maxReplay ? 'resync' : frames;
}

/** The position of the log's last event (a message's desk event is its position + 1). */
export async function lastLogged(sql: Sql): Promise<number> {
  const [row] = await sql<{ last: string }[]>`
    SELECT position + (desk IS NOT NULL)::int AS last FROM events ORDER BY position DESC LIMIT 1`;
  return Number(row?.last ?? 0);
}
