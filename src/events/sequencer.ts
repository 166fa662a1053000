import type postgres from 'postgres';
import type { Logger } from '../log.ts';
import { sessionConnection } from './connection.ts';
import { metrics } from '../metrics/registry.ts';

export interface Sequencer {
  close(): Promise<void>;
}

export interface SequencerOptions {
  log: Logger;
  /** Without a change for this long, it looks less often. */
  idleMs?: number;
  /** A window with more changed rows than this is sent as one resync_required per organization. */
  maxRows?: number;
}

/** A gateway that is not the sequencer tries to become it this often. */
const standbyMs = 1000;
/**
 * How often it looks for finished transactions: after a window that sent
 * something, after one of heavyRows messages or more, otherwise, and after a lull
 * (sql/040_sequence.sql says why).
 */
const busyPollMs = 5;
const heavyRows = 4;
const heavyPollMs = 10;
const pollMs = 2;
const idlePollMs = 4;

/**
 * Finds what writers changed, numbers it and sends it (sql/040_sequence.sql holds
 * the protocol). One per database: every gateway runs one, the one holding the
 * session lock 'sequencer' works, the others wait to take over. The work runs
 * inside the database (deskwire.run_sequencer, a CALL a second); this keeps its
 * place between calls.
 */
export function startSequencer(url: string, opts: SequencerOptions): Sequencer {
  const idleMs = opts.idleMs ?? 1000;
  const maxRows = opts.maxRows ?? 20_000;
  let closed = false;
  // Ends a wait early: at close, and (inside a session) when its connection drops.
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        if (wake === done) wake = undefined;
        resolve();
      }
      wake = done;
    });

  let outage = false;
  let leading = false;
  // The session's connection: ended at close, so a query that hangs on it does not hold the close up.
  let current: postgres.Sql | undefined;
  /** One connection's life: returns or throws when it drops, returns at close. */
  const session = async (status: { connected: boolean }) => {
    // Session state lives in this one connection: when it drops, so does the lead.
    let lost = false;
    const sql = sessionConnection(
      url,
      {
        application_name: 'deskwire-sequencer',
        // A loop whose gateway is gone stops within a second (PostgreSQL 14+).
        client_connection_check_interval: '1000',
        // Rows found by their keys whatever the statistics say, one plan per
        // statement, no JIT (sql/040_sequence.sql says why).
        enable_seqscan: 'off',
        enable_hashjoin: 'off',
        enable_mergejoin: 'off',
        plan_cache_mode: 'force_generic_plan',
        jit: 'off',
        // Windows commit without waiting for their own disk flush: waiting made every
        // writer's flush queue behind one of ours. The writers' rows are durable; only
        // numbers can be lost, to a crash of PostgreSQL, and taking the lead skips
        // past any it may have lost (deskwire.sequencer_lead), so a number is never given twice.
        synchronous_commit: 'off',
      },
      {
        onclose: () => {
          lost = true;
          if (current === sql) wake?.(); // a standby wait, not the backoff after this session
        },
      },
    );
    current = sql;
    try {
      // Where it is: the last snapshots looked at (messages, the rest) and position given.
      let place: { prev: string; others: string; last_position: string } | undefined;
      while (!closed && !lost) {
        const [lead] = await sql<{ leader: boolean; prev: string; others: string; last_position: string }[]>`SELECT * FROM deskwire.sequencer_lead()`;
        if (!status.connected && outage) opts.log.info('sequencer connected again');
        status.connected = true;
        outage = false;
        if (lead!.leader) {
          leading = true;
          metrics.sequencerLeader.set(1);
          place = lead;
          break;
        }
        await sleep(standbyMs);
      }
      let failures = 0;
      while (place && !closed && !lost) {
        try {
          // Returns within a second, so a close waits at most that long (cancelling
          // the CALL instead made postgres.js throw at shutdown, where nothing can catch it).
          const [next] = (await sql`
            CALL deskwire.run_sequencer(1000, ${idleMs}, ${pollMs}, ${busyPollMs}, ${idlePollMs}, ${heavyRows}, ${heavyPollMs}, ${maxRows},
              ${place.prev}::pg_snapshot, ${place.others}::pg_snapshot, ${place.last_position}::bigint)`) as unknown as (typeof place)[];
          place = next!;
          failures = 0;
        } catch (err) {
          // An error of the database with the connection up: a deploy replaced the
          // functions under the running CALL ("cache lookup failed"). Its windows
          // up to the last commit are in the sequencer row: go on from there at
          // once, still the lead, so nothing is numbered twice or skipped. An
          // error that stays (this version's functions are gone) gives the lead
          // up to a process whose functions are there.
          if (lost || closed || !isDatabaseError(err) || ++failures > 3) throw err;
          opts.log.warn({ err: (err as Error).message }, 'sequencer window failed; going on from its last commit');
          [place] = await sql<{ prev: string; others: string; last_position: string }[]>`
            SELECT messages_seen AS prev, others_seen AS others, position AS last_position FROM sequencer`;
        }
      }
    } finally {
      current = undefined;
      leading = false;
      metrics.sequencerLeader.set(0);
      // Ended before the caller goes on (at shutdown, before the database stops):
      // postgres.js throws, where nothing can catch it, when a socket it has queued a
      // write to closes under it. Bounded: ending a connection that never opened can hang.
      await Promise.race([sql.end({ timeout: 1 }).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  };

  const running = (async () => {
    // While the database cannot be reached: 100 ms, doubling to 5 s, and one
    // warning for the outage, not one per try.
    let failures = 0;
    while (!closed) {
      const status = { connected: false };
      try {
        await session(status);
      } catch (err) {
        if (closed) return;
        if (!outage) opts.log.warn({ err: (err as Error).message }, 'sequencer stopped; retrying with backoff');
        outage = true;
      }
      failures = status.connected ? 0 : failures + 1;
      if (!closed) await sleep(Math.min(5000, 100 * 2 ** Math.max(0, failures - 1)));
    }
  })();

  return {
    async close() {
      closed = true;
      wake?.();
      // Not while a window is being sent: its CALL returns within a second.
      if (!leading) void current?.end({ timeout: 0 }).catch(() => {});
      await running;
    },
  };
}

/** An error PostgreSQL answered with, on a connection that is still up. */
function isDatabaseError(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  // 57P0x: the backend was terminated or the server is shutting down (the connection goes).
  return e?.name === 'PostgresError' && !String(e.code).startsWith('57P0') && !String(e.code).startsWith('08');
}
