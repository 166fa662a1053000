import type { Organization, Deskwire } from '../lib/setup.ts';
import { setPriority } from 'node:os';
import { nativeBinary } from '../lib/native.ts';
import { hasPgbench, insertAtRate } from '../lib/pgbench.ts';
import { type Proc, run, runNative, sleep } from '../lib/processes.ts';

export interface Context {
  url: string;
  quick: boolean;
  deskwire: Deskwire;
  orgs: Organization[];
  log(line: string): void;
}

/** One line of the report: a measurement next to its baseline and its target. */
export interface Row {
  scenario: string;
  metric: string;
  deskwire: number | string;
  baseline: number | string;
  target: string;
  met: boolean | null;
}

export interface Result {
  rows: Row[];
  details: Record<string, unknown>;
}

/**
 * Source addresses for client sockets: each has ~28k ephemeral ports to 127.0.0.1.
 * Sixteen, so that the TIME_WAIT a round leaves (60 s, on the client's ports) does
 * not make the next round's connect() hunt for a free port.
 */
export const sourceAddresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 1}`);

/** At most this many sockets per client process: a process here may hold 20,000 files. */
export const socketsPerClient = 9000;

export interface SocketFleet {
  procs: Proc[];
  connectMs: number;
  failed: number;
  /** Summed reports of every client process. */
  report(): Promise<{ frames: number; newMessages: number; duplicates: number; unexpectedCloses: number; latencies: number[] }>;
  send(command: string): Promise<Record<string, number>[]>;
  close(): Promise<void>;
}

/** perOrg sockets to each of orgs, spread over client processes, all connected. */
export async function connectFleet(
  wsUrl: string,
  orgs: { name: string; token: string }[],
  perOrg: number,
  opts: { timedPerOrg?: number; concurrency?: number; lowPriority?: boolean } = {},
): Promise<SocketFleet> {
  // The timed sockets get a client process of their own: a client busy with
  // thousands of other sockets would add its own queueing to what it measures.
  const timed = Math.min(perOrg, opts.timedPerOrg ?? 1);
  const bulk = perOrg - timed;
  const procs: Proc[] = [];
  const concurrency = opts.concurrency ?? 200;
  const native = nativeBinary('sockets');
  const client = (mine: { name: string; token: string }[], count: number, timedPerOrg: number) => {
    if (native) {
      const u = new URL(wsUrl);
      // The bulk reads in 1 ms ticks (see sockets.c); the timed sockets at once.
      const tickMicros = timedPerOrg > 0 ? 0 : 1000;
      const lines = [`${u.hostname} ${u.port} ${count} ${timedPerOrg} ${concurrency} ${tickMicros}`, sourceAddresses.join(' '), ...mine.map((o) => `${o.name} ${o.token}`)];
      return runNative(native, lines.join('\n') + '\n');
    }
    return run('bench/load/sockets.ts', { url: wsUrl, orgs: mine, perOrg: count, timedPerOrg, sourceAddresses, concurrency });
  };
  if (timed > 0) procs.push(client(orgs, timed, timed));
  const clients = Math.max(1, Math.ceil((orgs.length * bulk) / socketsPerClient));
  for (let c = 0; bulk > 0 && c < clients; c++) {
    const mine = orgs.filter((_, i) => i % clients === c);
    if (!mine.length) continue;
    const p = client(mine, bulk, 0);
    // The bulk of the sockets are load, not the measurement: on two shared cores,
    // at a lower priority, as clients on other machines would be.
    if (opts.lowPriority) setPriority(p.child.pid!, 10);
    procs.push(p);
  }
  const ready = await Promise.all(procs.map((p) => p.next<{ connectMs: number; failed: number }>()));
  const fleet: SocketFleet = {
    procs,
    connectMs: Math.max(...ready.map((r) => r.connectMs)),
    failed: ready.reduce((a, r) => a + r.failed, 0),
    async send(command) {
      for (const p of procs) p.send(command);
      return Promise.all(procs.map((p) => p.next<Record<string, number>>()));
    },
    async report() {
      for (const p of procs) p.send('report');
      const rs = await Promise.all(procs.map((p) => p.next<{ frames: number; newMessages: number; duplicates: number; unexpectedCloses: number; latencies: number[] }>()));
      return {
        frames: rs.reduce((a, r) => a + r.frames, 0),
        newMessages: rs.reduce((a, r) => a + r.newMessages, 0),
        duplicates: rs.reduce((a, r) => a + r.duplicates, 0),
        unexpectedCloses: rs.reduce((a, r) => a + r.unexpectedCloses, 0),
        latencies: rs.flatMap((r) => r.latencies),
      };
    },
    async close() {
      for (const p of procs) p.send('close');
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
  return fleet;
}

/** Waits until `count()` reaches `want` or stops moving for 3 s, at most maxMs: late is not missing. */
export async function settle(count: () => Promise<number>, want: number, maxMs = 60_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const n = await count();
    if (n !== last) movedAt = Date.now();
    if (n >= want || Date.now() > deadline || Date.now() - movedAt > 3000) return n;
    last = n;
    await sleep(250);
  }
}

export const tokensFor = async (ctx: Context, orgs: Organization[]) =>
  Promise.all(orgs.map(async (o) => ({ name: o.name, token: await ctx.deskwire.token(o.name) })));

/** Whether writeMessages uses pgbench. */
export const pgbenchWrites = async () => process.env.BENCH_NODE_WRITER !== '1' && (await hasPgbench());

/** Messages at a fixed rate over orgs' desks: pgbench if there is one (and not BENCH_NODE_WRITER=1), else the Node writer. */
export async function writeMessages(ctx: Context, orgs: Organization[], rate: number, seconds: number): Promise<{ total: number; errors: number; scheduleLagMs?: number }> {
  if (await pgbenchWrites()) return insertAtRate(ctx.url, orgs, rate, seconds);
  const writer = run('bench/load/writer.ts', { url: ctx.url, orgs, rate, seconds });
  await writer.next();
  return writer.next();
}
