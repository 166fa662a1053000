// Scenario 8: channels. 1,000 outgoing messages at 200/s to a local provider
// answering 200 (how long sending -> sent takes); the same to a provider failing
// half its requests (every message still sent, none twice); and scenario 4's
// writers with every organization on a channel, the worker delivering as they write.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { hasPgbench, insertAtRate, pgbench } from '../lib/pgbench.ts';
import { run, sleep } from '../lib/processes.ts';
import { median, percentiles, round } from '../lib/stats.ts';
import type { Context, Result, Row } from './context.ts';
import { writerTables } from './writers.ts';
import { jobs } from '../../src/domain.ts';

interface ProviderReport {
  messages: number;
  requests: number;
  accepted: number;
  acceptedTwice: number;
}

export async function channels(ctx: Context): Promise<Result> {
  const s = '8. channels';
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const provider = run('bench/load/provider.ts', { failRate: 0 });
  const { url } = await provider.next<{ url: string }>();
  // The worker as a process of its own (npm run worker; the server runs with
  // WORKER=off), so that the writers' rounds can hold it still.
  const worker = run('src/worker.ts', null, { DATABASE_URL: ctx.url, LOG_LEVEL: 'info', DELIVERY_MAX_ATTEMPTS: '25' });
  while (!(await worker.next<{ msg?: string }>()).msg?.startsWith('deskwire worker is up'));
  const sql = postgres(ctx.url, { max: 2, onnotice: () => {} });
  const secret = randomBytes(32).toString('base64url');
  const org = ctx.orgs[0]!;
  const setChannels = (names: string[]) => sql`
    INSERT INTO channels (organization, kind, url, secret) SELECT name, 'webhook', ${url}, ${secret} FROM organizations WHERE name IN ${sql(names)}
    ON CONFLICT (organization) DO UPDATE SET kind = 'webhook', url = excluded.url`;
  const deliveriesLeft = async () => (await sql`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = ${jobs.deliver}`)[0]!.n as number;
  const drained = async (maxMs: number) => {
    const deadline = Date.now() + maxMs;
    while ((await deliveriesLeft()) > 0 && Date.now() < deadline) await sleep(100);
    return (await deliveriesLeft()) === 0;
  };

  // 1,000 messages at 200/s into one organization's desks; every one followed to sent.
  const outbound = async (failRate: number) => {
    provider.send(`fail ${failRate}`);
    await provider.next();
    const [{ since }] = await sql`SELECT clock_timestamp() AS since`;
    const written = await insertAtRate(ctx.url, [org], 200, 5);
    const ours = sql`m.help_desk_id IN (SELECT id FROM help_desks WHERE organization = ${org.name}) AND m.created_at >= ${since} AND m.type = 'sent'`;
    // The provider fails half its requests: ten failures in a row would be one
  // message in a thousand, so the worker runs with DELIVERY_MAX_ATTEMPTS=25.
  // graphile-worker waits e^n s after the n-th failure (hours by the 9th): the
    // bench brings each due retry forward instead of sitting through it.
    const clock = setInterval(() => {
      sql`SELECT graphile_worker.reschedule_jobs(array_agg(id), run_at := now()) FROM graphile_worker.jobs
          WHERE task_identifier = ${jobs.deliver} AND locked_at IS NULL AND run_at > now() HAVING count(*) > 0`.catch(() => {});
    }, 100);
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const [{ left }] = await sql`SELECT count(*)::int AS left FROM messages m WHERE ${ours} AND m.status = 'sending'`;
        if (left === 0 || Date.now() > deadline) break;
        await sleep(200);
      }
    } finally {
      clearInterval(clock);
    }
    const statuses = await sql<{ status: string; n: number }[]>`SELECT m.status, count(*)::int AS n FROM messages m WHERE ${ours} GROUP BY m.status`;
    const latencies = (await sql<{ ms: number }[]>`
      SELECT extract(epoch FROM m.updated_at - m.created_at)::float * 1000 AS ms FROM messages m WHERE ${ours} AND m.status = 'sent'`).map((r) => r.ms);
    provider.send('report');
    const report = await provider.next<ProviderReport>();
    const count = (status: string) => statuses.find((x) => x.status === status)?.n ?? 0;
    return { written: written.total, sent: count('sent'), failed: count('failed'), sending: count('sending'), latencies, report };
  };

  await setChannels([org.name]);
  const ok = await outbound(0);
  const { p50, p99 } = percentiles(ok.latencies);
  ctx.log(`  channels: ${ok.written} messages at 200/s, ${ok.sent} sent, sending -> sent p50 ${round(p50)} ms, p99 ${round(p99)} ms`);
  rows.push({ scenario: s, metric: `${ok.written} messages written at 200/s (pgbench: 1,000 over 32 clients), provider answering 200: sent`, deskwire: ok.sent, baseline: ok.written, target: 'all', met: ok.sent === ok.written && ok.report.acceptedTwice === 0 });
  rows.push({ scenario: s, metric: 'sending -> sent p50 / p99 (ms)', deskwire: `${round(p50)} / ${round(p99)}`, baseline: '-', target: 'reported', met: null });

  const flaky = await outbound(0.5);
  ctx.log(`  channels, provider failing 50%: ${flaky.sent} of ${flaky.written} sent, ${flaky.report.requests} requests, ${flaky.report.acceptedTwice} accepted twice, ${flaky.failed} failed`);
  rows.push({ scenario: s, metric: `provider failing 50%: sent (${round(flaky.report.requests / Math.max(1, flaky.report.messages))} requests a message)`, deskwire: flaky.sent, baseline: flaky.written, target: 'all', met: flaky.sent === flaky.written });
  rows.push({ scenario: s, metric: 'provider failing 50%: messages it accepted twice', deskwire: flaky.report.acceptedTwice, baseline: '-', target: '0', met: flaky.report.acceptedTwice === 0 });
  details.outbound = { ok: { ...ok, latencies: undefined }, flaky: { ...flaky, latencies: undefined } };
  provider.send('fail 0');
  await provider.next();

  // Scenario 4's writers with every organization on a channel: each message becomes
  // a job. Twice: with the worker held still during the round and the round's jobs
  // dropped after it (what enqueueing costs writers: the sequencer's add_jobs), and
  // with the worker delivering as they write (the deliveries' own work, on the same
  // two cores; the queue drained after the round). Each round starts vacuumed: the
  // dead rows the round before left (jobs done, statuses updated) are not its cost.
  if (await hasPgbench()) {
    await setChannels(ctx.orgs.map((o) => o.name));
    const { scriptOf } = await writerTables(sql);
    const scripts = { on: await scriptOf('messages'), off: await scriptOf('bench_plain_messages') };
    const seconds = ctx.quick ? 3 : 6;
    const runs: Record<string, unknown>[] = [];
    for (const delivering of [false, true]) {
      // Pairs of short rounds swing widely here: five for the target, three for the reported row.
      const rounds = ctx.quick ? 1 : delivering ? 3 : 5;
      for (const c of [1, 2, 4, 8, 16]) {
        // Rounds of: events and jobs; (held still only) events with no channel, as
        // scenario 4 writes them, the same minute; the plain table, no events.
        const kinds = delivering ? (['on', 'off'] as const) : (['on', 'events', 'off'] as const);
        const ratios: number[] = [];
        const eventRatios: number[] = [];
        const tps: Record<string, number[]> = { on: [], events: [], off: [] };
        for (let r = 0; r < rounds; r++) {
          const these: Record<string, number> = {};
          const order = [...kinds.slice(r % kinds.length), ...kinds.slice(0, r % kinds.length)];
          for (const kind of order) {
            if (!delivering) {
              await sql`DELETE FROM graphile_worker._private_jobs WHERE id IN (SELECT id FROM graphile_worker.jobs WHERE task_identifier = ${jobs.deliver})`;
            } else if (!(await drained(180_000))) throw new Error('deliveries did not drain within 180 s');
            if (kind === 'events') await sql`DELETE FROM channels WHERE url = ${url}`;
            await sql`VACUUM messages, bench_plain_messages, graphile_worker._private_jobs`;
            await sql`CHECKPOINT`; // not in the middle of a round
            if (!delivering) worker.child.kill('SIGSTOP');
            const result = await pgbench(ctx.url, scripts[kind === 'off' ? 'off' : 'on'], { clients: c, seconds }).finally(() => worker.child.kill('SIGCONT'));
            if (kind === 'events') await setChannels(ctx.orgs.map((o) => o.name));
            tps[kind]!.push(result.tps);
            these[kind] = result.tps;
            runs.push({ writers: c, kind, channels: kind === 'on', delivering, ...result });
          }
          ratios.push(these.on! / these.off!);
          if (these.events) eventRatios.push(these.events / these.off!);
        }
        const ratio = median(ratios);
        const how = delivering ? 'the worker delivering meanwhile' : 'jobs enqueued, none delivered';
        const withoutChannels = eventRatios.length ? `; events without a channel: ${round(median(eventRatios))}×` : '';
        ctx.log(`  channels, writers ${c}, ${how}: ${Math.round(median(tps.on!))} tps with events and jobs, ${Math.round(median(tps.off!))} without: ${round(ratio)}×${withoutChannels}`);
        rows.push({
          scenario: s,
          metric: `${c} writer${c > 1 ? 's' : ''}, every organization on a channel, ${how}: tps with / without events (${round(ratio)}×${withoutChannels})`,
          deskwire: Math.round(median(tps.on!)),
          baseline: Math.round(median(tps.off!)),
          target: delivering ? 'reported' : '≥ 0.8×',
          met: delivering ? null : ratio >= 0.8,
        });
      }
    }
    await drained(180_000);
    await sql`DELETE FROM channels WHERE url = ${url}`;
    details.writers = runs;
  }
  await sql.end();
  await worker.stop();
  await provider.stop();
  return { rows, details };
}
