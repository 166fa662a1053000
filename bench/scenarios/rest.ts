// Scenario 5: REST under autocannon (its own process), deskwire against a bare
// node:http + postgres handler running the same SQL; then list and history
// latency at a fixed rate on 10,000 desks and (full run) 1,000,000 messages.
import { run } from '../lib/processes.ts';
import { median, round } from '../lib/stats.ts';
import type { Context, Result, Row } from './context.ts';

interface Autocannon {
  rps: number;
  total: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function autocannon(args: Record<string, unknown>): Promise<Autocannon> {
  const p = run('bench/load/http.ts', args);
  const r = await p.next<Autocannon>();
  await p.stop();
  return r;
}

export async function rest(ctx: Context): Promise<Result> {
  const seconds = ctx.quick ? 4 : 10;
  const rounds = ctx.quick ? 1 : 3;
  const org = ctx.orgs[0]!;
  const token = await ctx.deskwire.token(org.name);
  const bare = run('bench/baselines/http-server.ts', { url: ctx.url });
  const { rest: bareUrl } = await bare.next<{ rest: string }>();
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const routes = {
    'POST /api/send-message/': { method: 'POST', path: '/api/send-message/', body: JSON.stringify({ help_desk: org.desks[0], message: 'from autocannon' }) },
    'GET /api/help-desks/<uuid>/history/': { method: 'GET', path: `/api/help-desks/${org.desks[1]}/history/` },
  } as const;
  const rows: Row[] = [];
  const runs: Record<string, unknown>[] = [];
  for (const [name, route] of Object.entries(routes)) {
    const rps = { deskwire: [] as number[], bare: [] as number[] };
    const p99 = { deskwire: [] as number[], bare: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const server of ['deskwire', 'bare'] as const) {
        const base = server === 'deskwire' ? ctx.deskwire.rest : bareUrl;
        const res = await autocannon({ url: base + route.path, method: route.method, headers: auth, body: 'body' in route ? route.body : undefined, connections: 10, seconds });
        if (res.errors || res.non2xx) throw new Error(`${server} ${name}: ${res.errors} errors, ${res.non2xx} non-2xx`);
        rps[server].push(res.rps);
        p99[server].push(res.p99);
        runs.push({ route: name, server, ...res });
      }
    }
    const ratio = median(rps.deskwire) / median(rps.bare);
    ctx.log(`  rest ${name}: ${Math.round(median(rps.deskwire))} req/s (p99 ${median(p99.deskwire)} ms), bare ${Math.round(median(rps.bare))} (p99 ${median(p99.bare)} ms): ${round(ratio)}×`);
    rows.push({ scenario: '5. REST, 10 connections', metric: `${name} req/s`, deskwire: Math.round(median(rps.deskwire)), baseline: Math.round(median(rps.bare)), target: '≥ 0.9× baseline', met: ratio >= 0.9 });
    rows.push({ scenario: '5. REST, 10 connections', metric: `${name} p99 (ms)`, deskwire: median(p99.deskwire), baseline: median(p99.bare), target: 'reported', met: null });
  }
  // Latency, not throughput: a steady 200 requests/s, deskwire and the bare handler
  // in turns, and the machine's floor (the bare server answering `SELECT 1`).
  const reads = {
    'GET /api/help-desks/?organization= (100 desks)': `/api/help-desks/?organization=${org.name}`,
    'GET /api/help-desks/<uuid>/history/': `/api/help-desks/${org.desks[2]}/history/`,
  };
  const atRate = (url: string) => autocannon({ url, method: 'GET', headers: auth, connections: 4, seconds: seconds * 2, rate: 200 });
  const floor: number[] = [];
  for (const [name, path] of Object.entries(reads)) {
    const p99 = { deskwire: [] as number[], bare: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const server of ['deskwire', 'bare'] as const) {
        const res = await atRate((server === 'deskwire' ? ctx.deskwire.rest : bareUrl) + path);
        if (res.errors || res.non2xx) throw new Error(`${server} ${name} at 200/s: ${res.errors} errors, ${res.non2xx} non-2xx`);
        p99[server].push(res.p99);
        runs.push({ route: name, server, rate: 200, ...res });
      }
      if (floor.length < rounds) {
        const res = await atRate(`${bareUrl}/floor`);
        floor.push(res.p99);
        runs.push({ route: 'GET /floor (SELECT 1)', server: 'bare', rate: 200, ...res });
      }
    }
    ctx.log(`  rest ${name} at 200/s: p99 ${median(p99.deskwire)} ms, bare ${median(p99.bare)} ms, floor ${median(floor)} ms`);
    rows.push({ scenario: '5. REST at 200 req/s, 10k desks', metric: `${name} p99 (ms)`, deskwire: median(p99.deskwire), baseline: median(p99.bare), target: '≤ 5', met: median(p99.deskwire) <= 5 });
  }
  rows.push({ scenario: '5. REST at 200 req/s, 10k desks', metric: 'floor: node:http + `SELECT 1` p99 (ms)', deskwire: '-', baseline: median(floor), target: 'reported', met: null });
  await bare.stop();
  return { rows, details: { seconds, rounds, runs } };
}
