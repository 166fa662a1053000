// Scenario 9: the client side. The console's bundle, gzipped; Chromium from
// navigation to a rendered list of 1,000 desks; and the client package resuming
// 1,000 events written while deskwire was down (a kill -9, then a start).
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import postgres from 'postgres';
import WebSocket from 'ws';
import { connect, type DeskwireEvent, type WebSocketConstructor } from '../../client/src/index.ts';
import { buildConsole } from '../../console/build.ts';
import { freePort } from '../../test/helpers/wait.ts';
import { startDeskwire } from '../lib/setup.ts';
import { sleep } from '../lib/processes.ts';
import { median, round } from '../lib/stats.ts';
import type { Context, Result, Row } from './context.ts';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const org = 'console1000';

export async function clients(ctx: Context): Promise<Result> {
  const s = '9. clients';
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};

  const bundle = await buildConsole();
  const gz = [...bundle.assets.values()].reduce((n, a) => n + gzipSync(a.body).length, 0);
  const raw = [...bundle.assets.values()].reduce((n, a) => n + a.body.length, 0);
  ctx.log(`  clients: console bundle ${round(raw / 1024, 1)} KB, ${round(gz / 1024, 1)} KB gzipped`);
  rows.push({ scenario: s, metric: 'console bundle, JS and CSS with Preact and the client, gzipped (KB)', deskwire: round(gz / 1024, 1), baseline: '-', target: '≤ 80', met: gz <= 80 * 1024 });

  const sql = postgres(ctx.url, { max: 2, onnotice: () => {} });
  await sql`INSERT INTO organizations (name) VALUES (${org}) ON CONFLICT DO NOTHING`;
  await sql`
    WITH c AS (INSERT INTO clients (organization, name, phone) SELECT ${org}, 'Client ' || g, '+1 555 ' || g FROM generate_series(1, 1000) g RETURNING id),
    d AS (INSERT INTO help_desks (client_id) SELECT id FROM c RETURNING id)
    INSERT INTO messages (help_desk_id, message, type) SELECT id, 'Hello from a client', 'received' FROM d`;

  if (existsSync(chromiumPath)) {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    const token = await ctx.deskwire.token(org);
    const times: number[] = [];
    for (let i = 0; i < (ctx.quick ? 2 : 5); i++) {
      const context = await browser.newContext();
      await context.addInitScript((t) => localStorage.setItem('deskwire.session', JSON.stringify({ token: t, organization: 'console1000', sub: 'bench' })), token);
      const page = await context.newPage();
      await page.goto(ctx.deskwire.rest + '/');
      await page.waitForFunction(() => document.querySelectorAll('.desk').length === 1000, null, { timeout: 30_000, polling: 'raf' });
      times.push(await page.evaluate(() => performance.now()));
      await context.close();
    }
    await browser.close();
    ctx.log(`  clients: navigation to 1,000 desks rendered: median ${Math.round(median(times))} ms`);
    rows.push({ scenario: s, metric: 'Chromium, navigation to a rendered list of 1,000 desks (ms, median)', deskwire: Math.round(median(times)), baseline: '-', target: 'reported', met: null });
    details.render = times;
  } else {
    ctx.log(`  clients: no Chromium at ${chromiumPath}; the render row is left out`);
  }

  // A deskwire of its own on fixed ports, killed and started again under a client.
  const ports = { PORT: String(await freePort()), WS_PORT: String(await freePort()) };
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-bench-clients-'));
  let server = await startDeskwire(ctx.url, dataDir, ports);
  const [desk] = await sql`SELECT id FROM help_desks WHERE organization = ${org} LIMIT 1`;
  const events: DeskwireEvent[] = [];
  const secret = server.secret;
  const client = connect({
    url: server.ws,
    organization: org,
    topics: [`desk:${desk!.id}`],
    token: () => import('../../src/auth/tokens.ts').then((m) => m.mintToken(secret, { org, sub: 'bench', ttlSeconds: 3600 })),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { minMs: 10, maxMs: 100 },
    onEvent: (e) => events.push(e),
  });
  const texts = () => events.flatMap((e) => (e.type === 'new_message' ? [e.message.message] : []));
  while (client.status !== 'open') await sleep(10);
  await sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk!.id}, 'before')`;
  while (!texts().includes('before')) await sleep(10);
  server.proc.child.kill('SIGKILL');
  await new Promise((r) => server.proc.child.once('exit', r));
  await sql`INSERT INTO messages (help_desk_id, message) SELECT ${desk!.id}, 'while down ' || g FROM generate_series(1, 1000) g`;
  const started = performance.now();
  server = await startDeskwire(ctx.url, dataDir, { ...ports, JWT_SECRET: secret });
  const up = performance.now();
  const deadline = Date.now() + 60_000;
  while (texts().filter((t) => t?.startsWith('while down')).length < 1000 && Date.now() < deadline) await sleep(5);
  const done = performance.now();
  client.close();
  const resumed = texts().filter((t) => t?.startsWith('while down'));
  const once = new Set(resumed).size === resumed.length && resumed.length === 1000;
  ctx.log(`  clients: resume of 1,000 events: ${resumed.length} received ${once ? 'once each' : 'NOT once each'}, ${Math.round(done - up)} ms after the start (start ${Math.round(up - started)} ms)`);
  rows.push({ scenario: s, metric: 'client resume after kill -9 and start: 1,000 events written meanwhile, received once (ms after "up")', deskwire: Math.round(done - up), baseline: '-', target: 'all, once', met: once });
  details.resume = { received: resumed.length, msAfterUp: done - up, startMs: up - started };
  await server.proc.stop();
  await sql.end();
  return { rows, details };
}
