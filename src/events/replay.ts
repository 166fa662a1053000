import type { Sql } from 'postgres';
import { textArray, uuidArray } from '../db/arrays.ts';
import type { ReplayFor } from '../topics/topics.ts';
import { type DeskEvent, eventsOf } from './event.ts';
import type { EventStream } from './listener.ts';

/** A resume spanning more events of its organization than this is told to reload over REST instead. */
export const maxReplay = 10_000;

/**
 * The frames of an organization's events after `since`, up to `upto` (what the
 * gateway has already published live), that the socket's topics take, in order;
 * or 'resync' when `since` is out of reach: pruned by retention, ahead of the log,
 * or more than maxReplay events of the organization behind.
 */
export async function replay(sql: Sql, organization: string, since: number, upto: number, to: ReplayFor): Promise<string[] | 'resync'> {
  if (since > upto) return 'resync';
  if (since === upto) return [];
  const [log] = await sql`SELECT pruned_through FROM event_log`;
  if (since < Number(log!.pruned_through)) return 'resync';
  // A change at `since` may hold the event after it (its desk's, at since + 1).
  // Rendered as the rows are now; an event whose row is gone is left out.
  const t = to.topics;
  const rows = await sql<{ position: string; type: string; topic: string; takes: boolean; takes_desk: boolean; data: string | null; desk: string | null }[]>`
    SELECT * FROM deskwire.replay_events(${organization}, ${since}, ${upto}, ${maxReplay + 1},
      ${t.org}, ${uuidArray(sql, [...t.desks])}, ${textArray(sql, [...t.rooms])}, ${t.inbox ? to.agent : null})`;
  if (rows.length > maxReplay) return 'resync';
  return rows
    .flatMap((r) => {
      const position = Number(r.position);
      // Its own event and the desk event after it (position + 1), each if the topics take it.
      return eventsOf({ ...r, organization, position }).filter((e) => (e.position === position ? r.takes : r.takes_desk));
    })
    .filter((e) => e.position > since && e.position <= upto)
    .map((e) => e.frame);
}

/** The position of the log's last event (a message's desk event is its position + 1). */
export async function lastLogged(sql: Sql): Promise<number> {
  const [row] = await sql<{ last: string }[]>`
    SELECT position + (desk IS NOT NULL)::int AS last FROM events ORDER BY position DESC LIMIT 1`;
  return Number(row?.last ?? 0);
}

/** How one process answers resuming sockets, from its event stream and the log. */
export interface Resumes {
  /** Every event this process publishes passes here first. */
  published(e: DeskEvent): void;
  /** The stream, once running: every event after its position then passes through published(). */
  follow(events: EventStream): void;
  /**
   * An organization's frames after `since` up to `upto`, where every event past
   * `upto` is published live from now on; or 'resync'. Throws if the stream has
   * not reached `since` within the wait (the client should resume again).
   */
  replay(organization: string, since: number, to: ReplayFor): Promise<{ frames: string[]; upto: number } | 'resync'>;
}

export function createResumes(sql: Sql, waitMs: number): Resumes {
  // The last position published per organization, and from where this process saw
  // every event: a socket resuming from an id at or past both has missed nothing and
  // needs no query (a reconnect storm of 10,000 sockets is then no storm for the database).
  const lastByOrganization = new Map<string, number>();
  let events: EventStream | undefined;
  let seenFrom = Infinity;
  return {
    published(e) {
      lastByOrganization.set(e.organization, e.position);
    },
    follow(stream) {
      events = stream;
      seenFrom = stream.position();
    },
    async replay(organization, since, to) {
      if (!events) throw new Error('resumes are answered only once the event stream runs');
      // A client may have seen an event this process has not published yet (it
      // came from another process): wait for the stream to reach it, if the log has it.
      if (since > events.position()) {
        if (since > (await lastLogged(sql))) return 'resync'; // not from this database's log (or lost with a crash of it)
        if (!(await events.reached(since, waitMs))) throw new Error(`the event stream has not reached ${since} yet`);
      }
      const upto = events.position();
      if (since >= seenFrom && (lastByOrganization.get(organization) ?? 0) <= since) return { frames: [], upto };
      const frames = await replay(sql, organization, since, upto, to);
      return frames === 'resync' ? frames : { frames, upto };
    },
  };
}
