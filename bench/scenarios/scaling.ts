// Scenarios 10 and 11 (docs/scaling.md): fan-out with WORKERS=1 against WORKERS=2,
// and commit-to-frame with FANOUT=listen against FANOUT=nats, each in alternating
// rounds of the same load; then the sequencer's ceiling in events per second, and
// what each more LISTENing gateway costs PostgreSQL at 1, 4 and 16 listeners.
// Runs last: it stops the run's deskwire and starts its own, one at a time (two on
// one database would share one sequencer and one relay).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../test/helpers/wait.ts';
import { natsAvailable } from '../../test/helpers/nats.ts';
import { numberDesks, pgbench, pgbenchScript } from '../lib/pgbench.ts';
import { cpuSecondsOf, run, sleep, treeCpuSeconds } from '../lib/processes.ts';
import { type Deskwire, startDeskwire } from '../lib/setup.ts';
import { median, percentiles, round } from '../lib/stats.ts';
import { type Context, type Result, type Row, connectFleet, settle, tokensFor, writeMessages } from './context.ts';

export async function scaling(ctx: Context): Promise<Result> {
  await ctx.deskwire.proc.stop();
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-bench-scaling-'));
  const start = async (env: Record<string, string>) => startDeskwire(ctx.url, dataDir, { PORT: String(await freePort()), WS_PORT: String(await freePort()), ...env });
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};

  /** A fleet on `dw`, messages at `rate` for `seconds`: frames, server CPU (the process tree), latencies. */
  const measure = async (dw: Deskwire, perOrg: number, rate: number, seconds: number) => {
    const orgs = ctx.orgs.slice(0, 100);
    const fleet = await connectFleet(dw.ws, await tokensFor({ ...ctx, deskwire: dw }, orgs), perOrg, { lowPriority: true });
    const pid = dw.proc.child.pid!;
    const cpu0 = treeCpuSeconds(pid);
    const started = Date.now();
    const written = await writeMessages(ctx, orgs, rate, seconds);
    await settle(async () => (await fleet.report()).newMessages, written.total * perOrg);
    const elapsed = (Date.now() - started) / 1000;
    const cpu = treeCpuSeconds(pid) - cpu0;
    const report = await fleet.report();
    await fleet.close();
    const latency = percentiles(report.latencies);
    return { frames: report.frames, missing: written.total * perOrg - report.newMessages, duplicates: report.duplicates, cpu: round(cpu), framesPerSecond: Math.round(report.frames / elapsed), framesPerCpuSecond: Math.round(report.frames / cpu), p50: latency.p50, p99: latency.p99 };
  };

  // 10. WORKERS=1 against WORKERS=2: the same sockets and rate.
  {
    const perOrg = ctx.quick ? 20 : 100;
    const rate = 1000;
    const seconds = ctx.quick ? 6 : 20;
    const runs: Record<string, unknown>[] = [];
    const per = { 1: [] as number[], 2: [] as number[] };
    const p99 = { 1: [] as number[], 2: [] as number[] };
    let lost = 0;
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      for (const workers of [1, 2] as const) {
        const dw = await start({ WORKERS: String(workers) });
        const m = await measure(dw, perOrg, rate, seconds);
        await dw.proc.stop();
        per[workers].push(m.framesPerCpuSecond);
        p99[workers].push(m.p99);
        lost += m.missing + m.duplicates;
        runs.push({ round: r + 1, workers, ...m });
        ctx.log(`  workers=${workers} round ${r + 1}: ${m.frames} frames, ${m.framesPerSecond}/s, ${m.cpu} CPU s, ${m.framesPerCpuSecond} frames/CPU s, p50 ${round(m.p50)} ms, p99 ${round(m.p99)} ms, missing ${m.missing}`);
      }
    }
    const s = `10. WORKERS, ${100 * perOrg} sockets, ${rate} msg/s`;
    rows.push(
      { scenario: s, metric: 'frames per server CPU-second, 2 workers (1 worker in baseline)', deskwire: Math.round(median(per[2])), baseline: Math.round(median(per[1])), target: 'reported', met: null },
      { scenario: s, metric: 'p99 commit-to-frame (ms), 2 workers (1 worker in baseline)', deskwire: round(median(p99[2])), baseline: round(median(p99[1])), target: 'reported', met: null },
      { scenario: s, metric: 'frames missing + duplicated, both', deskwire: lost, baseline: '-', target: '0', met: lost === 0 },
    );
    details.workers = runs;
  }

  // 11. FANOUT=listen against FANOUT=nats: commit-to-frame on the same load.
  if (await natsAvailable()) {
    const perOrg = 10;
    const rate = 500;
    const seconds = ctx.quick ? 6 : 15;
    const runs: Record<string, unknown>[] = [];
    const lat = { listen: { p50: [] as number[], p99: [] as number[] }, nats: { p50: [] as number[], p99: [] as number[] } };
    let lost = 0;
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      for (const fanout of ['listen', 'nats'] as const) {
        const dw = await start({ FANOUT: fanout });
        await sleep(1500); // the relay takes the lead's first second
        const m = await measure(dw, perOrg, rate, seconds);
        await dw.proc.stop();
        lat[fanout].p50.push(m.p50);
        lat[fanout].p99.push(m.p99);
        lost += m.missing + m.duplicates;
        runs.push({ round: r + 1, fanout, ...m });
        ctx.log(`  fanout=${fanout} round ${r + 1}: p50 ${round(m.p50)} ms, p99 ${round(m.p99)} ms, ${m.cpu} CPU s, missing ${m.missing}`);
      }
    }
    const s = `11. FANOUT, ${100 * perOrg} sockets, ${rate} msg/s`;
    rows.push(
      { scenario: s, metric: 'p50 commit-to-frame (ms), nats (listen in baseline)', deskwire: round(median(lat.nats.p50)), baseline: round(median(lat.listen.p50)), target: 'reported', met: null },
      { scenario: s, metric: 'p99 commit-to-frame (ms), nats (listen in baseline)', deskwire: round(median(lat.nats.p99)), baseline: round(median(lat.listen.p99)), target: 'reported', met: null },
      { scenario: s, metric: 'frames missing + duplicated, both', deskwire: lost, baseline: '-', target: '0', met: lost === 0 },
    );
    details.fanout = runs;
  } else ctx.log('  FANOUT=nats skipped: no NATS at NATS_URL');

  const dw = await start({});
  const sql = postgres(ctx.url, { max: 2, onnotice: () => {} });
  try {
    // 12. The sequencer's ceiling: 8 writers as fast as they go, 1, 5 and 20 messages a
    // transaction, until its lag grows (a window over 20,000 rows then becomes resync_required).
    {
      const table = 'bench_ceiling_desks';
      const desks = ctx.orgs.flatMap((o) => o.desks);
      await numberDesks(sql, table, desks);
      const runs: Record<string, unknown>[] = [];
      for (const perTransaction of [1, 5, 20]) {
        const script = await pgbenchScript(`ceiling-${perTransaction}`, `\\set d random(1, ${desks.length - perTransaction})\nINSERT INTO messages (help_desk_id, message) SELECT id, 'ceiling' FROM ${table} WHERE n >= :d AND n < :d + ${perTransaction};\n`);
        const [{ from }] = await sql<{ from: string }[]>`SELECT coalesce(max(position), 0) AS from FROM events`;
        let maxLag = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const [{ lag }] = await sql<{ lag: number }[]>`SELECT deskwire.sequencer_lag() AS lag`;
            maxLag = Math.max(maxLag, lag);
            await sleep(200);
          }
        })();
        const started = Date.now();
        const seconds = ctx.quick ? 5 : 10;
        const result = await pgbench(ctx.url, script, { clients: 8, seconds, prepared: true });
        // Until the sequencer has numbered everything written.
        for (;;) {
          const [{ lag }] = await sql<{ lag: number }[]>`SELECT deskwire.sequencer_lag() AS lag`;
          if (lag === 0) break;
          await sleep(50);
        }
        const elapsed = (Date.now() - started) / 1000;
        sampling = false;
        await sampler;
        // Each message numbered one by one is a change, and its desk's event after it.
        const [counts] = await sql<{ messages: number; events: number; resyncs: number }[]>`
          SELECT count(*) FILTER (WHERE type = 'new_message')::int AS messages, (count(*) + count(desk))::int AS events,
            count(*) FILTER (WHERE type = 'resync_required')::int AS resyncs
          FROM events WHERE position > ${from}`;
        const written = result.transactions * perTransaction;
        const line = { perTransaction, written, writtenPerSecond: Math.round(written / seconds), ...counts, seconds: round(elapsed), eventsPerSecond: Math.round(counts!.events / elapsed), maxLagSeconds: round(maxLag, 3) };
        runs.push(line);
        ctx.log(`  ceiling, ${perTransaction} per transaction: ${written} written (${line.writtenPerSecond}/s); ${counts!.messages} numbered one by one, ${counts!.events} events in ${round(elapsed)} s = ${line.eventsPerSecond}/s; ${counts!.resyncs} resync_required; lag at most ${round(maxLag, 3)} s`);
        rows.push({
          scenario: `12. sequencer ceiling, 8 writers, ${perTransaction} message${perTransaction > 1 ? 's' : ''} a transaction`,
          metric: 'events sent per second (messages written per second in baseline); its lag',
          deskwire: `${line.eventsPerSecond.toLocaleString('en')}; lag ≤ ${round(maxLag, 2)} s${counts!.resyncs ? `, ${counts!.resyncs} resync_required` : ''}`,
          baseline: line.writtenPerSecond,
          target: 'reported',
          met: null,
        });
        await sql`VACUUM messages`;
      }
      details.ceiling = runs;
    }

    // 13. What each more LISTENing gateway costs PostgreSQL: its backends' CPU at 1, 4, 16 listeners.
    {
      const orgs = ctx.orgs.slice(0, 100);
      const rate = 1000;
      const seconds = ctx.quick ? 5 : 10;
      const runs: Record<string, unknown>[] = [];
      const perThousand: Record<number, number> = {};
      for (const count of [1, 4, 16]) {
        const listeners = run('bench/load/listeners.ts', { url: ctx.url, count });
        await listeners.next();
        const pids = await sql<{ pid: number }[]>`
          SELECT pid FROM pg_stat_activity WHERE application_name IN ('bench-listener', 'deskwire-listener', 'deskwire-sequencer') AND datname = current_database()`;
        const cpu = () => pids.reduce((a, p) => a + cpuSecondsOf(p.pid), 0);
        const cpu0 = cpu();
        const written = await writeMessages(ctx, orgs, rate, seconds);
        await sleep(500);
        const used = cpu() - cpu0;
        listeners.send('report');
        const { payloads } = await listeners.next<{ payloads: number }>();
        listeners.send('close');
        await listeners.stop();
        const events = written.total * 2;
        perThousand[count] = (used * 1000 * 1000) / events; // CPU-ms per 1,000 events
        runs.push({ listeners: count, events, payloads, backendCpuSeconds: round(used, 3), cpuMsPerThousandEvents: round(perThousand[count]!, 2) });
        ctx.log(`  ${count} listeners (+ deskwire's): backends ${round(used, 3)} CPU s for ${events} events = ${round(perThousand[count]!, 2)} CPU-ms per 1,000 events`);
      }
      const marginal = (perThousand[16]! - perThousand[1]!) / 15;
      const s = '13. LISTEN cost, 1,000 msg/s (and deskwire\'s own LISTEN)';
      rows.push(
        { scenario: s, metric: 'PostgreSQL CPU-ms per 1,000 events, 4 listeners (1 in baseline)', deskwire: round(perThousand[4]!, 1), baseline: round(perThousand[1]!, 1), target: 'reported', met: null },
        { scenario: s, metric: 'PostgreSQL CPU-ms per 1,000 events, 16 listeners (1 in baseline)', deskwire: round(perThousand[16]!, 1), baseline: round(perThousand[1]!, 1), target: 'reported', met: null },
        { scenario: s, metric: 'CPU-ms per 1,000 events per more listener', deskwire: round(marginal, 2), baseline: '-', target: 'reported', met: null },
      );
      details.listeners = runs;
    }
  } finally {
    await sql.end();
    await dw.proc.stop();
  }
  return { rows, details };
}
