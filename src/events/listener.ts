import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { holdListenConnection } from './connection.ts';
import { channels as channelNames, organizationName, roomEventType as eventType } from '../domain.ts';
import { type DeskEvent, eventsOf, type LoggedChange } from './event.ts';
import { lastLogged } from './replay.ts';

/**
 * A line of a NOTIFY payload (sql/040_sequence.sql): "<position> <organization>
 * <type> <topic> <data>[<tab><desk>]", or "<position> <organization>" for a change
 * too large for a NOTIFY (read from the log).
 */
type Notified = LoggedChange & { large: boolean };

export interface EventStream {
  /** The highest position handed to onEvent: every event up to it was handed over. */
  position(): number;
  /** Resolves once the first catch-up from the log is done: position() is then the log's end. */
  ready: Promise<void>;
  /** Connected and caught up: what is committed now reaches onEvent within milliseconds. */
  live(): boolean;
  /** Resolves true once position() reaches `position`, false after `ms` if it has not. */
  reached(position: number, ms: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A window of the sequencer: its commits fell between looked and seen (ms since the epoch). */
export interface Window {
  looked: number;
  seen: number;
  /** Events handed to onEvent since the window before (this one's, but for a catch-up's). */
  events: number;
}

/** How payloads reach a stream: each gateway's LISTEN (the default), or NATS (src/fanout). */
export type Transport = (h: {
  /** Channel (src/domain.ts channels) -> handler of each payload. */
  channels: Record<string, (payload: string) => void>;
  /** Runs after every (re)connect: the stream catches up from the log. */
  onListening(): Promise<void>;
  /** Disconnected, or a gap seen: what comes next is read from the log first. */
  onLost(): void;
  /** The last position handed over. */
  position(): number;
}) => { close(): Promise<void> };

export interface StreamOptions {
  onEvent(e: DeskEvent): void;
  /** Each change whose events were handed over, in order (the NATS relay publishes these). */
  onChange?(c: LoggedChange): void;
  /** Where to start; by default the log's end. */
  from?: number;
  transport?: Transport;
  /** After a window's events were handed over (for metrics). */
  onWindow?(w: Window): void;
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
  let position = opts.from ?? (await lastLogged(sql));
  const waiters = new Set<{ position: number; done(ok: boolean): void }>();
  // Payloads are handled one after another: a large event read from the log holds
  // back the ones after it, and a catch-up holds back the notifications behind it.
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  // True from a drop of the LISTEN connection (and at start) until a catch-up from
  // the log has run. A notification can arrive on a new connection before its
  // LISTEN call has even returned, so the first one after a drop catches up itself.
  let stale = true;
  let live = false;
  // Events handed over, and as many as the last window reported.
  let handed = 0;
  let reported = 0;
  const enqueue = (work: () => Promise<void> | void) => {
    pending++;
    queue = queue
      .then(work)
      .catch((err) => opts.log.error({ err }, 'event delivery failed'))
      .finally(() => pending--);
    return queue;
  };

  const deliver = (c: LoggedChange) => {
    if (opts.onChange && c.position > position) opts.onChange(c);
    for (const e of eventsOf(c)) {
      if (e.position <= position) continue; // already handed over (live and catch-up overlap)
      position = e.position;
      handed++;
      opts.onEvent(e);
    }
    if (waiters.size) for (const w of waiters) if (w.position <= position) w.done(true);
  };
  const read = (rows: (Omit<LoggedChange, 'position'> & { position: string })[]) =>
    rows.map((r) => ({ ...r, position: Number(r.position) }));

  const catchUp = async () => {
    for (;;) {
      // position may be a row's desk event (its position + 1): that row is read again, and skipped.
      const rows = read(await sql`
        SELECT * FROM deskwire.logged_events(NULL, ${position}, ${Number.MAX_SAFE_INTEGER}, ${catchUpBatch})`);
      for (const r of rows) deliver(r);
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
      for (const i of items) deliver(i);
      return;
    }
    void enqueue(async () => {
      if (stale) await freshen();
      for (const i of items) {
        if (!i.large) deliver(i);
        else if (i.position + 1 > position) {
          const [row] = read(await sql`SELECT * FROM deskwire.logged_events(NULL, ${i.position}, ${i.position}, 1)`);
          if (row) deliver(row);
        }
      }
    });
  };

  // A window's note comes after its events (one transaction): reported once they are handed over.
  const report = (looked: number, seen: number) => {
    opts.onWindow!({ looked, seen, events: handed - reported });
    reported = handed;
  };
  const onWindow = (payload: string) => {
    const [, , looked, seen] = payload.split(' ').map(Number); // windowNote's fields
    if (!Number.isFinite(looked) || !Number.isFinite(seen)) return;
    if (!stale && pending === 0) report(looked!, seen!);
    else void enqueue(() => report(looked!, seen!));
  };

  let caughtUp: () => void;
  const ready = new Promise<void>((resolve) => (caughtUp = resolve));
  const freshen = async () => {
    stale = false;
    try {
      await catchUp();
      live = !stale;
      caughtUp();
    } catch (err) {
      // Not caught up: the next notification tries again, and so does a timer
      // (nothing may come for a while, and a start waits for this).
      stale = true;
      setTimeout(() => void enqueue(() => (stale ? freshen() : undefined)), 500).unref();
      throw err;
    }
  };

  const transport = opts.transport ?? ((h) => holdListenConnection(url, { ...h, log: opts.log }));
  const connection = transport({
    channels: { ...opts.channels, [channelNames.events]: onPayload, ...(opts.onWindow && { [channelNames.windows]: onWindow }) },
    onListening: () => enqueue(freshen),
    onLost: () => {
      stale = true;
      live = false;
    },
    position: () => position,
  });

  return {
    position: () => position,
    ready,
    live: () => live,
    reached(target, ms) {
      if (target <= position) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = {
          position: target,
          done(ok: boolean) {
            clearTimeout(timer);
            waiters.delete(w);
            resolve(ok);
          },
        };
        const timer = setTimeout(() => w.done(false), ms);
        waiters.add(w);
      });
    },
    async close() {
      for (const w of waiters) w.done(false);
      await connection.close();
      await queue;
    },
  };
}

/**
 * A window's note as the sequencer sends it (sql/040_sequence.sql): "<last position
 * before> <last position> <looked> <seen>", the two moments in ms since the epoch.
 * The NATS relay forwards it in the same form.
 */
export const windowNote = (before: number, last: number, looked: number, seen: number) => `${before} ${last} ${looked} ${seen}`;

/** The lines of a payload, or undefined if any line is not one of ours. */
export function parse(payload: string): Notified[] | undefined {
  const items: Notified[] = [];
  for (const line of payload.split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const position = Number(line.slice(0, a));
    const organization = b < 0 ? line.slice(a + 1) : line.slice(a + 1, b);
    if (a < 1 || !Number.isSafeInteger(position) || !organizationName.test(organization)) return undefined;
    if (b < 0) {
      items.push({ position, organization, type: '', topic: '-', data: null, desk: null, large: true });
      continue;
    }
    const c = line.indexOf(' ', b + 1);
    const d = line.indexOf(' ', c + 1);
    const type = line.slice(b + 1, c);
    const topic = line.slice(c + 1, d);
    const tab = line.indexOf('\t', d + 1);
    const data = tab < 0 ? line.slice(d + 1) : line.slice(d + 1, tab);
    // A desk event's data is an object; a room event's, any JSON.
    if (c < 0 || d < 0 || !eventType.test(type) || !topic || !data || (!topic.includes('/') && !data.startsWith('{'))) return undefined;
    items.push({ position, organization, type, topic, data, desk: tab < 0 ? null : line.slice(tab + 1), large: false });
  }
  return items;
}
