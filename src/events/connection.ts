import { metrics } from '../metrics/registry.ts';
import postgres from 'postgres';
import type { Logger } from '../log.ts';

export interface ListenConnection {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Channel -> handler of each payload. */
  channels: Record<string, (payload: string) => void>;
  /** Runs after every (re)LISTEN: catch up here. */
  onListening(): Promise<void>;
  /** The connection dropped: what comes next may follow a gap. */
  onLost(): void;
  log: Logger;
}

/**
 * One connection of its own, kept for good (a LISTEN, session locks): never
 * recycled by postgres.js, since what lives in the session would go with it.
 */
export function sessionConnection(url: string, connection: Record<string, string>, opts: Partial<postgres.Options<{}>> = {}): postgres.Sql {
  return postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 5,
    // A connection killed while postgres.js fetches array types on connect leaves
    // a rejection nobody can catch (and Node exits on it). We need no array types.
    fetch_types: false,
    onnotice: () => {},
    connection,
    ...opts,
  });
}

const backoffMs = (attempt: number) => Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

/**
 * The gateway's one LISTEN connection, kept up: when it drops (a restart, a
 * terminated backend, a network cut) it is made again with backoff, and
 * onListening runs so whatever was committed meanwhile is read from the log.
 */
export function holdListenConnection(url: string, opts: ListenOptions): ListenConnection {
  let current: postgres.Sql | undefined;
  let closed = false;
  let wake: (() => void) | undefined;

  const open = async () => {
    for (let attempt = 0; !closed; attempt++) {
      let alive = true;
      const conn: postgres.Sql = sessionConnection(url, { application_name: 'deskwire-listener' }, {
        onclose: () => {
          alive = false;
          opts.onLost();
          if (conn !== current || closed) return;
          current = undefined;
          opts.log.warn('LISTEN connection lost; reconnecting');
          metrics.listenReconnects.inc();
          void conn.end({ timeout: 0 }).catch(() => {});
          open().catch((err) => opts.log.error({ err }, "LISTEN supervisor failed"));
        },
        // Not in postgres.js's types, but its own listen() is built on it.
        ...({ onnotify: (channel: string, payload: string) => opts.channels[channel]?.(payload) } as object),
      });
      try {
        for (const channel of Object.keys(opts.channels)) await conn.unsafe(`LISTEN "${channel}"`);
        // Closed between the LISTEN and now: its onclose saw no current connection to replace.
        if (!alive) throw new Error('connection closed while starting to listen');
        current = conn;
        if (attempt > 0) opts.log.info({ attempts: attempt + 1 }, 'LISTEN connection restored');
        await opts.onListening();
        return;
      } catch (err) {
        if (current === conn) current = undefined;
        void conn.end({ timeout: 0 }).catch(() => {}); // not awaited: ending a connection that never opened can hang
        if (closed) return;
        opts.log.warn({ err: (err as Error).message, attempt }, 'cannot LISTEN; retrying');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, backoffMs(attempt)).unref();
        });
      }
    }
  };
  const started = open();

  return {
    async close() {
      closed = true;
      wake?.();
      await started.catch(() => {});
      await current?.end({ timeout: 1 });
      current = undefined;
    },
  };
}
