import postgres from 'postgres';
import type { Logger } from '../log.ts';

export interface Sequencer {
  /** A writer rang (NOTIFY deskwire_wake), or events may be waiting: look now. */
  wake(): void;
  close(): Promise<void>;
}

export interface SequencerOptions {
  log: Logger;
  /** Between polls while awake. */
  pollMs?: number;
  /** Awake this long without an event, it tries to sleep. */
  idleMs?: number;
  /** Events numbered per transaction. */
  batch?: number;
}

/** A gateway that is not the sequencer tries to become it this often. */
const standbyMs = 1000;
/** Asleep, it still looks this often: a safety net, not the way events arrive. */
const safetyMs = 1000;

/**
 * Numbers committed events and sends them (sql/040_sequence.sql holds the protocol).
 * One per database: every gateway runs one, the one holding the session lock
 * 'sequencer' works, the others wait to take over. While events come it polls each
 * millisecond holding 'awake', so writers need not NOTIFY; idle, it sleeps until a
 * writer rings.
 */
export function startSequencer(url: string, opts: SequencerOptions): Sequencer {
  const pollMs = opts.pollMs ?? 1;
  const idleMs = opts.idleMs ?? 250;
  const batch = opts.batch ?? 1000;
  let closed = false;
  let rang = false;
  let alarm: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        alarm = undefined;
        resolve();
      }
      alarm = done;
    });

  const session = async () => {
    // Session state lives in this one connection: when it drops, so do the locks.
    let lost = false;
    const sql = postgres(url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      connect_timeout: 5,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: 'deskwire-sequencer' },
      onclose: () => {
        lost = true;
        alarm?.();
      },
    });
    try {
      while (!closed && !lost) {
        const [{ leader }]: { leader: boolean }[] = await sql`SELECT pg_try_advisory_lock(deskwire.lock_key('sequencer')) AS leader`;
        if (leader) break;
        await sleep(standbyMs);
      }
      let holdsAwake = false;
      let lastEvent = Date.now();
      let awake = true; // look at once: events may have waited for a sequencer
      while (!closed && !lost) {
        if (!awake) {
          if (!rang) await sleep(safetyMs);
          awake = true;
          lastEvent = Date.now();
        }
        rang = false;
        const [row]: { holds: boolean; n: number }[] = await sql`
          SELECT ${holdsAwake}::boolean OR pg_try_advisory_lock(deskwire.lock_key('awake')) AS holds,
                 deskwire.sequence_events(${batch}) AS n`;
        holdsAwake = row!.holds;
        if (row!.n > 0) lastEvent = Date.now();
        if (row!.n >= batch) continue;
        if (Date.now() - lastEvent >= idleMs) {
          const [{ may }]: { may: boolean }[] = await sql`SELECT deskwire.sequencer_may_sleep(${holdsAwake}) AS may`;
          holdsAwake = false;
          if (may) {
            // Every writer that saw us awake is done: one last look, then sleep.
            const [{ n }]: { n: number }[] = await sql`SELECT deskwire.sequence_events(${batch}) AS n`;
            if (n > 0) lastEvent = Date.now();
            else awake = false;
            continue;
          }
        }
        await sleep(pollMs);
      }
    } finally {
      void sql.end({ timeout: 0 }).catch(() => {}); // not awaited: see connection.ts
    }
  };

  const running = (async () => {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await session();
      } catch (err) {
        if (closed) return;
        opts.log.warn({ err: (err as Error).message }, 'sequencer lost its connection; restarting');
      }
      if (!closed) await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
    }
  })();

  return {
    wake() {
      rang = true;
      alarm?.();
    },
    async close() {
      closed = true;
      alarm?.();
      await running;
    },
  };
}
