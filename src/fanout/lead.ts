import { sessionConnection } from '../events/connection.ts';
import type { Logger } from '../log.ts';

/** How often a process that does not relay tries to take it over. */
const standbyMs = 1000;

/**
 * One relay per database, whichever processes run FANOUT=nats: the one holding the
 * session lock 'nats-relay' relays, the others try every second. Not tied to the
 * sequencer's lead, so processes still on FANOUT=listen (a rolling switch to NATS)
 * take nothing from the ones already on NATS.
 */
export function holdRelayLead(url: string, onLead: (leading: boolean) => void, log: Logger): { close(): Promise<void> } {
  let closed = false;
  let wake: (() => void) | undefined;
  let current: ReturnType<typeof sessionConnection> | undefined;
  const sleep = (ms: number) => new Promise<void>((r) => ((wake = r), setTimeout(r, ms).unref()));

  const running = (async () => {
    let failures = 0;
    while (!closed) {
      let lost!: () => void;
      const gone = new Promise<void>((r) => (lost = r));
      const sql = sessionConnection(url, { application_name: 'deskwire-relay-lead' }, { onclose: () => lost() });
      current = sql;
      try {
        let leading = false;
        while (!closed && !leading) {
          const [row] = await sql<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(deskwire.lock_key('nats-relay')) AS ok`;
          leading = row!.ok;
          if (!leading) await Promise.race([gone, sleep(standbyMs)]);
        }
        failures = 0;
        if (leading && !closed) {
          onLead(true);
          await gone; // the lock goes with the connection
          onLead(false);
        }
      } catch (err) {
        if (!closed && failures++ === 0) log.warn({ err: (err as Error).message }, 'NATS relay lead: cannot reach the database; retrying');
      }
      void sql.end({ timeout: 0 }).catch(() => {});
      if (!closed) await sleep(Math.min(5000, 100 * 2 ** failures));
    }
  })();

  return {
    async close() {
      closed = true;
      wake?.();
      await current?.end({ timeout: 1 }).catch(() => {});
      await running;
    },
  };
}
