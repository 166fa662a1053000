// Scenarios 1 and 2: commit-to-frame latency at full fan-out, and frames per server
// CPU-second, deskwire against a plain `ws` server fed by the same events, in
// alternating rounds of the same load.
import { cpus } from 'node:os';
import { machineBusySeconds, run, sleep } from '../lib/processes.ts';
import { median, percentiles, round } from '../lib/stats.ts';
import { type Context, type Result, connectFleet, settle, tokensFor, writeMessages } from './context.ts';

export async function fanout(ctx: Context): Promise<Result> {
  const orgs = ctx.orgs.slice(0, 100);
  const perOrg = ctx.quick ? 20 : 100;
  const rate = 1000;
  const seconds = ctx.quick ? 8 : 30;
  const rounds = ctx.quick ? 1 : 3;
  const tokens = await tokensFor(ctx, orgs);
  const wsBaseline = run('bench/baselines/ws-server.ts', { url: ctx.url, secret: ctx.deskwire.secret });
  const { ws: baselineUrl } = await wsBaseline.next<{ ws: string }>();
  const listener = run('bench/load/listener.ts', { url: ctx.url });
  await listener.next();

  const rounds_: Record<string, unknown>[] = [];
  const p50 = { deskwire: [] as number[], listen: [] as number[] };
  const p99 = { deskwire: [] as number[], listen: [] as number[] };
  const efficiency = { deskwire: [] as number[], ws: [] as number[] };
  let missing = 0;
  let duplicates = 0;
  for (let r = 0; r < rounds; r++) {
    for (const server of ['deskwire', 'ws'] as const) {
      const target = server === 'deskwire' ? ctx.deskwire.proc : wsBaseline;
      const fleet = await connectFleet(server === 'deskwire' ? ctx.deskwire.ws : baselineUrl, tokens, perOrg, { lowPriority: true });
      listener.send('reset');
      await listener.next();
      const cpu0 = target.cpuSeconds();
      const split0 = target.cpu();
      const thread0 = target.mainThread();
      const clients0 = fleet.procs.map((p) => p.cpuSeconds());
      const machine0 = machineBusySeconds();
      const started = Date.now();
      const written = await writeMessages(ctx, orgs, rate, seconds);
      // Where the machine's cores went while the writer ran: what the clients and
      // everything else left to the server.
      const elapsed = (Date.now() - started) / 1000;
      const machineBusy = (machineBusySeconds() - machine0) / elapsed;
      const thread1 = target.mainThread();
      // Shares of the writing time the server's event loop ran, and stood ready but without a core.
      const loopRunning = (thread1.running - thread0.running) / elapsed;
      const loopWaiting = (thread1.waiting - thread0.waiting) / elapsed;
      // Per client process: the first holds the timed sockets, the rest the bulk.
      const clientCpus = fleet.procs.map((p, i) => round(p.cpuSeconds() - clients0[i]!));
      const clientCpu = clientCpus.reduce((a, x) => a + x, 0);
      const want = written.total * perOrg;
      const got = await settle(async () => (await fleet.report()).newMessages, want);
      const cpu = target.cpuSeconds() - cpu0;
      const split1 = target.cpu();
      const kernel = split1.system - split0.system;
      const report = await fleet.report();
      listener.send('report');
      const listened = await listener.next<{ latencyMs: ReturnType<typeof percentiles> }>();
      const frameLatency = percentiles(report.latencies);
      const perCpuSecond = report.frames / cpu;
      const rss = target.rssMiB();
      efficiency[server].push(perCpuSecond);
      if (server === 'deskwire') {
        p50.deskwire.push(frameLatency.p50);
        p99.deskwire.push(frameLatency.p99);
        p50.listen.push(listened.latencyMs.p50);
        p99.listen.push(listened.latencyMs.p99);
        missing += want - got;
        duplicates += report.duplicates;
      }
      const line = {
        round: r + 1,
        server,
        sockets: tokens.length * perOrg,
        committed: written.total,
        writeErrors: written.errors,
        scheduleLagMs: written.scheduleLagMs,
        frames: report.frames,
        expectedNewMessageFrames: want,
        newMessageFrames: got,
        duplicates: report.duplicates,
        serverCpuSeconds: round(cpu),
        serverKernelCpuSeconds: round(kernel),
        clientCpuSeconds: round(clientCpu),
        clientCpuSecondsEach: clientCpus,
        machineBusyCores: round(machineBusy),
        serverRssMiB: round(rss),
        serverLoopRunningShare: round(loopRunning),
        serverLoopWaitingShare: round(loopWaiting),
        framesPerCpuSecond: Math.round(perCpuSecond),
        frameLatencyMs: frameLatency,
        listenLatencyMs: listened.latencyMs,
      };
      rounds_.push(line);
      ctx.log(`  fanout ${server} round ${r + 1}: ${report.frames} frames, ${round(cpu)} CPU s (${round(kernel)} in the kernel), ${Math.round(perCpuSecond)} frames/CPU s, RSS ${Math.round(rss)} MiB; clients ${round(clientCpu)} CPU s (${clientCpus.join(' + ')}); machine ${round(machineBusy)} of ${cpus().length} cores busy; server loop running ${Math.round(loopRunning * 100)} %, waiting for a core ${Math.round(loopWaiting * 100)} %; p50 ${round(frameLatency.p50)} ms (LISTEN ${round(listened.latencyMs.p50)}), missing ${want - got}`);
      await fleet.close();
      await sleep(500);
    }
  }
  listener.send('close');
  await listener.stop();
  await wsBaseline.stop();

  const d50 = median(p50.deskwire);
  const b50 = median(p50.listen);
  const d99 = median(p99.deskwire);
  const b99 = median(p99.listen);
  const ratio = median(efficiency.deskwire) / median(efficiency.ws);
  const sockets = tokens.length * perOrg;
  const s1 = `1. latency, ${rate} msg/s, ${sockets} sockets`;
  return {
    rows: [
      { scenario: s1, metric: 'p50 commit-to-frame (ms)', deskwire: round(d50), baseline: round(b50), target: '≤ baseline + 0.5', met: d50 <= b50 + 0.5 },
      { scenario: s1, metric: 'p99 commit-to-frame (ms)', deskwire: round(d99), baseline: round(b99), target: '≤ baseline + 2', met: d99 <= b99 + 2 },
      { scenario: s1, metric: 'frames missing / duplicated', deskwire: `${missing} / ${duplicates}`, baseline: '-', target: '0 / 0', met: missing === 0 && duplicates === 0 },
      {
        scenario: `2. fan-out vs ws, ${sockets} sockets`,
        metric: 'frames per server CPU-second',
        deskwire: Math.round(median(efficiency.deskwire)),
        baseline: Math.round(median(efficiency.ws)),
        target: '≥ 7× baseline',
        met: ratio >= 7,
      },
    ],
    details: { rate, seconds, rounds, perOrg, organizations: tokens.length, ratio: round(ratio), runs: rounds_ },
  };
}
