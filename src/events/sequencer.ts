import type { Logger } from '../log.ts';
import { sessionConnection } from './connection.ts';

export interface Sequencer {
  /** A writer rang (NOTIFY deskwire_wake), or events may be waiting: look now. */
  wake(): void;
  close(): Promise<void>;
}

export interface SequencerOptions {
  log: Logger;
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
 * 'sequencer' works, the others wait to take over. While events come, the procedure
 * deskwire.run_sequencer polls each millisecond inside the database holding 'awake',
 * so writers need not NOTIFY; idle, it returns and we sleep until a writer rings.
 */
export function startSequencer(url: string, opts: SequencerOptions): Sequencer {
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
    const sql = sessionConnection(
      url,
      {
        application_name: 'deskwire-sequencer',
        // A loop whose gateway is gone stops within a second (PostgreSQL 14+).
        client_connection_check_interval: '1000',
        // Numbering commits do not wait for their own disk flush: waiting made every
        // writer's flush queue behind one of ours (0.55x the throughput of a lone
        // writer). The writers' rows are durable; only numbers can be lost, to a
        // crash of PostgreSQL, and taking the lead skips past any it may have lost
        // (deskwire.sequencer_lead), so a number is never given twice.
        synchronous_commit: 'off',
      },
      {
        onclose: () => {
          lost = true;
          alarm?.();
        },
      },
    );
    try {
      while (!closed && !lost) {
        const [{ leader }]: { leader: boolean }[] = await sql`SELECT deskwire.sequencer_lead() AS leader`;
        if (leader) break;
        await sleep(standbyMs);
      }
      let holds = false; // 'awake', held by this session across calls
      let floor = '0'; // ids at or below it are numbered (a bigint, kept as text)
      while (!closed && !lost) {
        rang = false;
        // Awake: the database polls until it may sleep, or for a second at most, so
        // a close waits at most that long (cancelling the CALL instead made
        // postgres.js throw at shutdown, where nothing can catch it).
        const [result] = (await sql`CALL deskwire.run_sequencer(${idleMs}, 1000, ${batch}, ${holds}, ${floor}::bigint)`) as unknown as { holds: boolean; floor: string; asleep: boolean }[];
        holds = result!.holds;
        floor = result!.floor;
        const asleep = result!.asleep;
        if (asleep && !rang && !closed) await sleep(safetyMs);
      }
    } finally {
      // Ended before the caller goes on (at shutdown, before the database stops):
      // postgres.js throws, where nothing can catch it, when a socket it has queued a
      // write to closes under it. Bounded: ending a connection that never opened can hang.
      await Promise.race([sql.end({ timeout: 1 }).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
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
