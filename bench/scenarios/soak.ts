// Scenario 6: half of scenario 1's load for 10 minutes (20 s with --quick):
// deskwire's memory must not creep, nothing may fail or go missing.
import { sleep } from '../lib/processes.ts';
import { median, round } from '../lib/stats.ts';
import { type Context, type Result, connectFleet, settle, tokensFor, writeMessages } from './context.ts';

export async function soak(ctx: Context): Promise<Result> {
  const seconds = ctx.quick ? 20 : 600;
  const rate = 500;
  const perOrg = ctx.quick ? 10 : 50;
  const orgs = ctx.orgs.slice(0, 100);
  const fleet = await connectFleet(ctx.deskwire.ws, await tokensFor(ctx, orgs), perOrg, { timedPerOrg: 0 });
  await fleet.send('reset');
  const samples: { t: number; rss: number }[] = [];
  const started = Date.now();
  let serverGone = false;
  const sampler = setInterval(() => {
    try {
      samples.push({ t: (Date.now() - started) / 1000, rss: ctx.deskwire.proc.rssMiB() });
    } catch {
      serverGone = true; // no /proc entry: deskwire exited
    }
  }, ctx.quick ? 500 : 5000);
  const written = await writeMessages(ctx, orgs, rate, seconds);
  clearInterval(sampler);
  const want = written.total * perOrg;
  const got = await settle(async () => (await fleet.report()).newMessages, want);
  const report = await fleet.report();
  await fleet.close();
  await sleep(200);
  // Warm-up is the first quarter; compare the second quarter with the last.
  const window = (from: number, to: number) => median(samples.filter((s) => s.t >= from * seconds && s.t < to * seconds).map((s) => s.rss));
  const early = window(0.25, 0.5);
  const late = window(0.75, 1.01);
  const drift = ((late - early) / early) * 100;
  const errors = written.errors + report.unexpectedCloses + (serverGone ? 1 : 0);
  const s = `6. soak, ${seconds} s at ${rate} msg/s, ${orgs.length * perOrg} sockets`;
  ctx.log(`  soak: RSS ${round(early)} -> ${round(late)} MiB (${round(drift)} %), ${errors} errors, ${want - got} missing`);
  return {
    rows: [
      { scenario: s, metric: 'RSS drift, 2nd quarter -> last quarter (%)', deskwire: round(drift), baseline: '-', target: '< 2', met: drift < 2 },
      { scenario: s, metric: 'errors / missing / duplicated', deskwire: `${errors} / ${want - got} / ${report.duplicates}`, baseline: '-', target: '0 / 0 / 0', met: errors === 0 && want === got && report.duplicates === 0 },
    ],
    details: { seconds, rate, perOrg, committed: written.total, frames: report.frames, samples },
  };
}
