// Scenario 7: the same 10,000 sockets on `org` and then each on one `desk:` topic
// (one socket per desk, 100 desks per organization), at the same write rate, in
// alternating rounds: what a desk topic costs the server per frame it delivers, and
// how many fewer frames a message makes.
import { sleep } from '../lib/processes.ts';
import { median, round } from '../lib/stats.ts';
import { type Context, type Result, connectFleet, settle, tokensFor, writeMessages } from './context.ts';

export async function topics(ctx: Context): Promise<Result> {
  const orgs = ctx.orgs.slice(0, 100);
  const perOrg = ctx.quick ? 20 : 100;
  const desksPerOrg = orgs[0]!.desks.length;
  const rate = 1000;
  const seconds = ctx.quick ? 8 : 20;
  const rounds = ctx.quick ? 1 : 3;
  const idleSeconds = ctx.quick ? 3 : 5;
  const tokens = await tokensFor(ctx, orgs);
  // One entry per socket (the load clients open perOrg sockets per entry: here one),
  // its topic in its URL.
  const sockets = (mode: 'org' | 'desk') =>
    orgs.flatMap((o, i) =>
      o.desks.slice(0, perOrg).map((d) => ({ name: o.name, token: mode === 'org' ? tokens[i]!.token : `${tokens[i]!.token}&topics=desk:${d}` })),
    );
  const cpuPerFrame = { org: [] as number[], desk: [] as number[] };
  const netPerFrame = { org: [] as number[], desk: [] as number[] };
  const cpuPerMessage = { org: [] as number[], desk: [] as number[] };
  const framesPerMessage = { org: [] as number[], desk: [] as number[] };
  const runs: Record<string, unknown>[] = [];
  let duplicates = 0;
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? (['desk', 'org'] as const) : (['org', 'desk'] as const)) {
      const fleet = await connectFleet(ctx.deskwire.ws, sockets(mode), 1, { timedPerOrg: 0, lowPriority: true });
      await fleet.send('reset');
      // What the sockets cost with nothing to send (pings, sweeps): measured, to tell
      // it from what the events cost.
      const idle0 = ctx.deskwire.proc.cpuSeconds();
      const idleStarted = Date.now();
      await sleep(idleSeconds * 1000);
      const idlePerSecond = (ctx.deskwire.proc.cpuSeconds() - idle0) / ((Date.now() - idleStarted) / 1000);
      const cpu0 = ctx.deskwire.proc.cpuSeconds();
      const started = Date.now();
      const written = await writeMessages(ctx, orgs, rate, seconds);
      // Until the frames stop coming (how many a desk socket gets depends on where
      // the writes fell): both modes end with the same idle tail.
      await settle(async () => (await fleet.report()).frames, Infinity);
      const cpu = ctx.deskwire.proc.cpuSeconds() - cpu0;
      const net = cpu - idlePerSecond * ((Date.now() - started) / 1000);
      const report = await fleet.report();
      duplicates += report.duplicates;
      cpuPerFrame[mode].push((cpu / report.frames) * 1e6);
      netPerFrame[mode].push((net / report.frames) * 1e6);
      cpuPerMessage[mode].push((net / written.total) * 1e6);
      framesPerMessage[mode].push(report.frames / written.total);
      runs.push({ round: r + 1, mode, sockets: sockets(mode).length, committed: written.total, frames: report.frames, duplicates: report.duplicates, serverCpuSeconds: round(cpu), idleCpuPerSecond: round(idlePerSecond, 3), netCpuSeconds: round(net) });
      ctx.log(`  topics ${mode} round ${r + 1}: ${written.total} messages, ${report.frames} frames (${round(report.frames / written.total)} a message), ${round(cpu)} CPU s (idle ${round(idlePerSecond, 3)} a second), ${round((cpu / report.frames) * 1e6)} µs a frame, ${round((net / report.frames) * 1e6)} net of idle, ${round((net / written.total) * 1e6)} µs a message`);
      await fleet.close();
    }
  }
  const perFrame = { org: median(cpuPerFrame.org), desk: median(cpuPerFrame.desk) };
  const netFrame = { org: median(netPerFrame.org), desk: median(netPerFrame.desk) };
  const perMessageCpu = { org: median(cpuPerMessage.org), desk: median(cpuPerMessage.desk) };
  const perMessage = { org: median(framesPerMessage.org), desk: median(framesPerMessage.desk) };
  const drop = perMessage.org / perMessage.desk;
  // Per message, org costs F + 200·f and desk: F + 2·f (F: the message's own cost, f:
  // a frame's): f = (org − desk) / (org frames − desk frames).
  const marginal = (perMessageCpu.org - perMessageCpu.desk) / (perMessage.org - perMessage.desk);
  const s = `7. topics, ${perOrg * orgs.length} sockets, ${rate} msg/s`;
  return {
    rows: [
      { scenario: s, metric: 'server CPU µs per delivered frame: desk: (one per socket) vs org', deskwire: round(perFrame.desk, 2), baseline: round(perFrame.org, 2), target: '≤ 1.2× baseline', met: perFrame.desk <= 1.2 * perFrame.org },
      { scenario: s, metric: 'the same, net of the idle sockets\' own CPU', deskwire: round(netFrame.desk, 2), baseline: round(netFrame.org, 2), target: 'reported', met: null },
      // What a frame adds beyond a message's own cost, per mode: the literal row above
      // also spreads that cost (the NOTIFY, parsing, framing) over only 2 frames.
      { scenario: s, metric: 'server CPU µs per frame beyond a message\'s own cost: desk: vs org (from the two modes\' per-message CPU)', deskwire: round(marginal, 2), baseline: round(netFrame.org, 2), target: '≤ 1.2× baseline', met: marginal <= 1.2 * netFrame.org },
      { scenario: s, metric: 'server CPU µs per message written, net of idle: desk: vs org', deskwire: round(perMessageCpu.desk, 1), baseline: round(perMessageCpu.org, 1), target: '≤ baseline', met: perMessageCpu.desk <= perMessageCpu.org },
      { scenario: s, metric: `frames per message: desk: vs org (÷${round(drop, 1)})`, deskwire: round(perMessage.desk, 2), baseline: round(perMessage.org, 2), target: `÷ ≥ ${round(desksPerOrg * 0.9, 0)} (${desksPerOrg} desks per org)`, met: drop >= desksPerOrg * 0.9 },
      { scenario: s, metric: 'duplicated frames', deskwire: duplicates, baseline: '-', target: '0', met: duplicates === 0 },
    ],
    details: { rate, seconds, rounds, perOrg, desksPerOrg, runs },
  };
}
