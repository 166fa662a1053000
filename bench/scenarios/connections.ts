// Scenario 3: idle subscribed sockets. Server memory per connection and the
// connect+subscribe rate, deskwire against the `ws` baseline with the same
// clients; then the resume path: every socket dropped and back at once with ?since=.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { run, sleep } from '../lib/processes.ts';
import { startDeskwire } from '../lib/setup.ts';
import { median, round } from '../lib/stats.ts';
import { type Context, type Result, connectFleet, settle, tokensFor } from './context.ts';

export async function connections(ctx: Context): Promise<Result> {
  // 50,000 is the issue's figure; a process here may hold 20,000 open files
  // (ulimit -Hn, which even root cannot raise in this sandbox), so one server holds at most ~19,900.
  const total = ctx.quick ? 4000 : 18000;
  const resumeTotal = ctx.quick ? 2000 : 10000;
  // Three rounds, three resumes: from one run to the next the `ws` server took 4.8
  // to 8 s for the same sockets, and a median of two is only a mean.
  const rounds = ctx.quick ? 1 : 3;
  const resumes = ctx.quick ? 1 : 3;
  const tokens = await tokensFor(ctx, ctx.orgs.slice(0, 100));
  const perOrg = total / tokens.length;
  const memory = { deskwire: [] as number[], ws: [] as number[] };
  const rate = { deskwire: [] as number[], ws: [] as number[] };
  const runs: Record<string, unknown>[] = [];
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-bench-connections-'));
  for (let r = 0; r < rounds; r++) {
    for (const server of ['deskwire', 'ws'] as const) {
      // A fresh server each round, deskwire as the baseline: the one that served the
      // fan-out holds garbage its GC may hand back while sockets arrive (enough, once,
      // to make a socket's share negative).
      const baseline = server === 'ws' ? run('bench/baselines/ws-server.ts', { url: ctx.url, secret: ctx.deskwire.secret }) : undefined;
      const fresh = server === 'deskwire' ? await startDeskwire(ctx.url, dataDir) : undefined;
      const url = baseline ? (await baseline.next<{ ws: string }>()).ws : fresh!.ws;
      const target = baseline ?? fresh!.proc;
      const theirTokens = fresh ? await tokensFor({ ...ctx, deskwire: fresh }, ctx.orgs.slice(0, tokens.length)) : tokens;
      await sleep(1000);
      const before = target.rssMiB();
      const fleet = await connectFleet(url, theirTokens, perOrg, { timedPerOrg: 0, concurrency: 500 });
      await sleep(3000);
      const after = target.rssMiB();
      const kib = ((after - before) * 1024) / total;
      const perSecond = total / (fleet.connectMs / 1000);
      memory[server].push(kib);
      rate[server].push(perSecond);
      runs.push({ round: r + 1, server, sockets: total, failed: fleet.failed, rssBeforeMiB: round(before), rssAfterMiB: round(after), kibPerConnection: round(kib), connectMs: Math.round(fleet.connectMs), perSecond: Math.round(perSecond) });
      ctx.log(`  connections ${server}: ${total} sockets (${fleet.failed} failed) in ${Math.round(fleet.connectMs)} ms, ${round(kib)} KiB each`);
      await fleet.close();
      await target.stop();
      await sleep(2000);
    }
  }
  await rm(dataDir, { recursive: true, force: true });
  // Before each drop every socket sees an event of its organization, so it resumes
  // from a real id (with no id it would resume from the start of the log: a replay).
  const perOrgResume = resumeTotal / tokens.length;
  const fleet = await connectFleet(ctx.deskwire.ws, tokens, perOrgResume, { timedPerOrg: 0, concurrency: 500 });
  const sql = postgres(ctx.url, { max: 1, onnotice: () => {} });
  const resumeMsEach: number[] = [];
  let resumeFailed = 0;
  const resumeWhy: Record<string, number> = {};
  for (let r = 0; r < resumes; r++) {
    for (const org of ctx.orgs.slice(0, tokens.length)) await sql`INSERT INTO messages (help_desk_id, message) VALUES (${org.desks[0]!}, 'before the drop')`;
    await settle(async () => (await fleet.report()).newMessages, resumeTotal * (r + 1));
    const resumed = await fleet.send('resume');
    const ms = Math.max(...resumed.map((x) => x.ms!));
    const failed = resumed.reduce((a, x) => a + x.failed!, 0);
    resumeMsEach.push(ms);
    resumeFailed += failed;
    const why: Record<string, number> = {};
    for (const x of resumed) for (const [k, v] of Object.entries((x as unknown as { why: Record<string, number> }).why ?? {})) why[k] = (why[k] ?? 0) + v;
    for (const [k, v] of Object.entries(why)) resumeWhy[k] = (resumeWhy[k] ?? 0) + v;
    ctx.log(`  resume ${r + 1}: ${resumeTotal} sockets back in ${Math.round(ms)} ms (${failed} failed${failed ? `: ${JSON.stringify(why)}` : ''})`);
    await sleep(2000);
  }
  await sql.end();
  await fleet.close();
  const resumeMs = median(resumeMsEach);

  const mem = { deskwire: median(memory.deskwire), ws: median(memory.ws) };
  const rt = { deskwire: median(rate.deskwire), ws: median(rate.ws) };
  const s = `3. ${total.toLocaleString('en')} idle sockets`;
  return {
    rows: [
      { scenario: s, metric: 'server memory per connection (KiB)', deskwire: round(mem.deskwire, 1), baseline: round(mem.ws, 1), target: '≤ 1/5 baseline', met: mem.deskwire <= mem.ws / 5 },
      { scenario: s, metric: 'connect+subscribe per second', deskwire: Math.round(rt.deskwire), baseline: Math.round(rt.ws), target: '≥ 5× baseline', met: rt.deskwire >= 5 * rt.ws },
      { scenario: `3. resume ${resumeTotal.toLocaleString('en')} sockets at once`, metric: `all back, with ?since= (ms, median of ${resumes})`, deskwire: Math.round(resumeMs), baseline: '-', target: '≤ 1000, none failed', met: resumeMs <= 1000 && resumeFailed === 0 },
    ],
    details: { total, resumeTotal, resumeMsEach: resumeMsEach.map(Math.round), resumeFailed, resumeWhy, runs },
  };
}
