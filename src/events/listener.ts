import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { holdListenConnection } from './connection.ts';
import { type DeskEvent, type EventType, eventTypes, organizationName, toFrame } from './event.ts';

/** An element of a NOTIFY payload (sql/040_notify.sql). */
interface Notified {
  org: string;
  id: number;
  type: EventType;
  data?: unknown;
  /** Too large for a NOTIFY: read its data from the log. */
  large?: true;
}

export interface EventStream {
  /** The highest position handed to onEvent: every event up to it was handed over. */
  position(): number;
  close(): Promise<void>;
}

export interface StreamOptions {
  onEvent(e: DeskEvent): void;
  /** Other channels on the same LISTEN connection. */
  channels?: Record<string, (payload: string) => void>;
  log: Logger;
}

const catchUpBatch = 500;

/**
 * Every committed event, once, in position order, to onEvent. Live events come by
 * NOTIFY; after the LISTEN connection (re)opens, whatever was committed while it
 * was down is read from the log. Positions already handed over are skipped, so the
 * seam between the two gives no duplicate and no gap.
 */
export async function streamEvents(url: string, sql: Sql, opts: StreamOptions): Promise<EventStream> {
  const [{ last }] = (await sql`SELECT coalesce(max(position), 0)::bigint AS last FROM events`) as unknown as [{ last: string }];
  let position = Number(last);
  // Payloads are handled one after another: a large event read from the log holds
  // back the ones after it, and a catch-up holds back the notifications behind it.
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  // True from a drop of the LISTEN connection (and at start) until a catch-up from
  // the log has run. A notification can arrive on a new connection before its
  // LISTEN call has even returned, so the first one after a drop catches up itself.
  let stale = true;
  const enqueue = (work: () => Promise<void> | void) => {
    pending++;
    queue = queue
      .then(work)
      .catch((err) => opts.log.error({ err }, 'event delivery failed'))
      .finally(() => pending--);
    return queue;
  };

  const deliver = (e: { org: string; id: number; type: EventType; data: unknown }) => {
    if (e.id <= position) return; // already handed over (live and catch-up overlap)
    position = e.id;
    opts.onEvent({ organization: e.org, position: e.id, type: e.type, frame: toFrame(e.type, e.data, e.id) });
  };

  const catchUp = async () => {
    for (;;) {
      const rows = await sql<{ position: string; organization: string; type: EventType; data: unknown }[]>`
        SELECT position, organization, type, data FROM events
        WHERE position > ${position} ORDER BY position LIMIT ${catchUpBatch}`;
      for (const r of rows) deliver({ org: r.organization, id: Number(r.position), type: r.type, data: r.data });
      if (rows.length < catchUpBatch) return;
    }
  };

  const onPayload = (payload: string) => {
    const items = parse(payload);
    if (!items) {
      opts.log.warn({ payload: payload.slice(0, 200) }, 'ignored a malformed NOTIFY on the deskwire channel');
      return;
    }
    // The common case, small events and nothing queued, goes out synchronously.
    if (!stale && pending === 0 && items.every((i) => !i.large)) {
      for (const i of items) deliver({ org: i.org, id: i.id, type: i.type, data: i.data });
      return;
    }
    void enqueue(async () => {
      if (stale) await freshen();
      for (const i of items) {
        if (!i.large) deliver({ org: i.org, id: i.id, type: i.type, data: i.data });
        else if (i.id > position) {
          const [row] = await sql`SELECT data FROM events WHERE position = ${i.id}`;
          if (row) deliver({ org: i.org, id: i.id, type: i.type, data: row.data });
        }
      }
    });
  };

  const freshen = async () => {
    stale = false;
    await catchUp();
  };

  const connection = holdListenConnection(url, {
    channels: { ...opts.channels, deskwire: onPayload },
    onListening: () => enqueue(freshen),
    onLost: () => (stale = true),
    log: opts.log,
  });

  return {
    position: () => position,
    async close() {
      await connection.close();
      await queue;
    },
  };
}

function parse(payload: string): Notified[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const valid = value.every(
    (i) =>
      typeof i === 'object' &&
      i !== null &&
      typeof i.org === 'string' &&
      organizationName.test(i.org) &&
      Number.isSafeInteger(i.id) &&
      eventTypes.includes(i.type) &&
      (i.large === true || (i.data !== undefined && i.data !== null)),
  );
  return valid ? (value as Notified[]) : undefined;
}
