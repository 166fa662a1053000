// Scenario 5: REST under autocannon (its own process), deskwire against a bare
// node:http + postgres handler running the same SQL; then list and history
// latency at a fixed rate on 10,000 desks and (full run) 1,000,000 messages.
import { run } from '../lib/processes.ts';
import { median, round } from '../lib/stats.ts';
import type { Context, Result, Row } from './context.ts';

interface Load {
  rps: number;
  total: number;
  p50: number;
  p99: number;
  errors: number;
  /** What the errors were, where the generator says (http-rate.ts). */
  errorCodes?: Record<string, number>;
  non2xx: number;
}

async function load(generator: string, args: Record<string, unknown>): Promise<Load> {
  const p = run(generator, args);
  const r = await p.next<Load>();
  await p.stop();
  if (r.errors || r.non2xx) throw new Error(`${args.url}: ${r.errors} errors ${JSON.stringify(r.errorCodes ?? {})}, ${r.non2xx} non-2xx`);
  return r;
}

export async function rest(ctx: Context): Promise<Result> {
  const seconds = ctx.quick ? 3 : 5;
  const rounds = ctx.quick ? 1 : 5;
  const org = ctx.orgs[0]!;
  const token = await ctx.deskwire.token(org.name);
  const bare = run('bench/baselines/http-server.ts', { url: ctx.url });
  const { rest: bareUrl } = await bare.next<{ rest: string }>();
  const base = { deskwire: ctx.deskwire.rest, bare: bareUrl };
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const routes = {
    'POST /api/send-message/': { method: 'POST', path: '/api/send-message/', body: JSON.stringify({ help_desk: org.desks[0], message: 'from autocannon' }) },
    'GET /api/help-desks/<uuid>/history/': { method: 'GET', path: `/api/help-desks/${org.desks[1]}/history/` },
  } as const;
  const closedLoop = (server: keyof typeof base, route: (typeof routes)[keyof typeof routes], seconds: number) =>
    load('bench/load/http.ts', { url: base[server] + route.path, method: route.method, headers: auth, body: 'body' in route ? route.body : undefined, connections: 10, seconds });
  const rows: Row[] = [];
  const runs: Record<string, unknown>[] = [];
  // Throughput in short pairs (deskwire, bare; then the other way round): this
  // machine's speed drifts by tens of percent over minutes, so each pair is
  // compared with itself, and the report gives the median of the pairs' ratios.
  for (const [name, route] of Object.entries(routes)) {
    // A warm-up, not measured: each server's first seconds on a route (its JIT,
    // its connections' prepared statements) once cost deskwire 0.6x in a first pair.
    for (const server of ['deskwire', 'bare'] as const) await closedLoop(server, route, 2);
    const rps = { deskwire: [] as number[], bare: [] as number[] };
    const p99 = { deskwire: [] as number[], bare: [] as number[] };
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const pair: Record<string, number> = {};
      for (const server of r % 2 ? (['bare', 'deskwire'] as const) : (['deskwire', 'bare'] as const)) {
        const res = await closedLoop(server, route, seconds);
        rps[server].push(res.rps);
        p99[server].push(res.p99);
        pair[server] = res.rps;
        runs.push({ route: name, server, ...res });
      }
      ratios.push(pair.deskwire! / pair.bare!);
    }
    const ratio = median(ratios);
    ctx.log(`  rest ${name}: ${Math.round(median(rps.deskwire))} req/s (p99 ${median(p99.deskwire)} ms), bare ${Math.round(median(rps.bare))} (p99 ${median(p99.bare)} ms): ${round(ratio)}× (pairs: ${ratios.map((x) => round(x)).join(' ')})`);
    rows.push({ scenario: '5. REST, 10 connections', metric: `${name} req/s (${round(ratio)}×: median of ${rounds} pairs)`, deskwire: Math.round(median(rps.deskwire)), baseline: Math.round(median(rps.bare)), target: '≥ 0.9× baseline', met: ratio >= 0.9 });
    rows.push({ scenario: '5. REST, 10 connections', metric: `${name} p99 (ms)`, deskwire: median(p99.deskwire), baseline: median(p99.bare), target: 'reported', met: null });
  }

  // Room publish against send-message, both deskwire, in pairs the same way: what a
  // room event costs its writer next to a message (issue 18). A publish answers once
  // the sequencer has numbered the event (its id); send-message does not wait. With
  // 10 connections a publish's wait for the sequencer's next window bounds the rate
  // (10 per window); with 50 both routes keep the cores busy: what each costs.
  for (const connections of [10, 50]) {
    const scenario = `5. REST, ${connections} connections`;
    const publish = { method: 'POST', path: '/api/rooms/payments-42/events/', body: JSON.stringify({ type: 'payment.updated', data: { status: 'paid', amount: 4200 } }) };
    const send = routes['POST /api/send-message/'];
    const onDeskwire = (route: typeof publish, s: number) =>
      load('bench/load/http.ts', { url: base.deskwire + route.path, method: route.method, headers: auth, body: route.body, connections, seconds: s });
    await onDeskwire(publish, 2);
    await onDeskwire(send, 2);
    const rps = { publish: [] as number[], send: [] as number[] };
    const p99 = { publish: [] as number[], send: [] as number[] };
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const pair: Record<string, number> = {};
      for (const which of r % 2 ? (['send', 'publish'] as const) : (['publish', 'send'] as const)) {
        const res = await onDeskwire(which === 'publish' ? publish : send, seconds);
        rps[which].push(res.rps);
        p99[which].push(res.p99);
        pair[which] = res.rps;
        runs.push({ route: which === 'publish' ? 'POST /api/rooms/<name>/events/' : 'POST /api/send-message/ (vs rooms)', server: 'deskwire', connections, ...res });
      }
      ratios.push(pair.publish! / pair.send!);
    }
    const ratio = median(ratios);
    ctx.log(`  rest room publish, ${connections} connections: ${Math.round(median(rps.publish))} req/s (p99 ${median(p99.publish)} ms), send-message ${Math.round(median(rps.send))} (p99 ${median(p99.send)} ms): ${round(ratio)}× (pairs: ${ratios.map((x) => round(x)).join(' ')})`);
    rows.push({ scenario, metric: `POST /api/rooms/<name>/events/ req/s, baseline send-message on deskwire (${round(ratio)}×)`, deskwire: Math.round(median(rps.publish)), baseline: Math.round(median(rps.send)), target: connections === 10 ? 'reported (bounded by the wait for its id)' : '≥ 0.9× baseline', met: connections === 10 ? null : ratio >= 0.9 });
    rows.push({ scenario, metric: 'POST /api/rooms/<name>/events/ p99 (ms), baseline send-message', deskwire: median(p99.publish), baseline: median(p99.send), target: 'reported', met: null });
  }

  // Latency, not throughput: a steady 200 requests/s from a fixed-rate generator,
  // deskwire and the bare handler in turns, and the machine's two floors: the bare
  // server answering at once (no database), and answering `SELECT 1`.
  const reads = {
    'GET /api/help-desks/?organization= (100 desks)': `/api/help-desks/?organization=${org.name}`,
    'GET /api/help-desks/<uuid>/history/': `/api/help-desks/${org.desks[2]}/history/`,
  };
  const atRate = (url: string) => load('bench/load/http-rate.ts', { url, headers: auth, rate: 200, seconds: seconds * 2 });
  const floors = { 'node:http, no database': { path: '/ping', p99: [] as number[] }, 'node:http + `SELECT 1`': { path: '/floor', p99: [] as number[] } };
  const latencyRounds = ctx.quick ? 1 : 3;
  for (const [name, path] of Object.entries(reads)) {
    const p99 = { deskwire: [] as number[], bare: [] as number[] };
    const p50 = { deskwire: [] as number[], bare: [] as number[] };
    for (let r = 0; r < latencyRounds; r++) {
      for (const server of ['deskwire', 'bare'] as const) {
        const res = await atRate(base[server] + path);
        p99[server].push(res.p99);
        p50[server].push(res.p50);
        runs.push({ route: name, server, rate: 200, ...res });
      }
      for (const [floor, f] of Object.entries(floors)) {
        if (f.p99.length >= latencyRounds) continue;
        const res = await atRate(bareUrl + f.path);
        f.p99.push(res.p99);
        runs.push({ route: `floor: ${floor}`, server: 'bare', rate: 200, ...res });
      }
    }
    ctx.log(`  rest ${name} at 200/s: p50 ${round(median(p50.deskwire))} ms, p99 ${round(median(p99.deskwire))} ms; bare p50 ${round(median(p50.bare))}, p99 ${round(median(p99.bare))} ms`);
    rows.push({ scenario: '5. REST at 200 req/s, 10k desks', metric: `${name} p99 (ms) (p50: ${round(median(p50.deskwire), 1)})`, deskwire: round(median(p99.deskwire), 1), baseline: round(median(p99.bare), 1), target: '≤ 5', met: median(p99.deskwire) <= 5 });
  }
  for (const [floor, f] of Object.entries(floors)) {
    ctx.log(`  rest floor at 200/s, ${floor}: p99 ${round(median(f.p99))} ms`);
    rows.push({ scenario: '5. REST at 200 req/s', metric: `floor: ${floor}, p99 (ms)`, deskwire: '-', baseline: round(median(f.p99), 1), target: 'reported', met: null });
  }
  await bare.stop();
  return { rows, details: { seconds, rounds, latencyRounds, runs } };
}
