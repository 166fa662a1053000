// Commit-to-frame latency: how long after a row is written an agent's socket has it.
//
// deskwire runs in a child process, as users run it (`src/main.ts`); this process is
// the load: a writer at a fixed rate, S agent sockets, and a bare `postgres` LISTEN
// client as the baseline, all timing the same events. Latency is measured from the
// row's created_at (clock_timestamp() in the writer's transaction) to the arrival
// of the frame, on the same clock.
//
//   npm run bench [-- --events 1000 --rate 200 --sockets 10]   (--quick: 300 events)
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import WebSocket from 'ws';
import { mintToken } from '../src/auth/tokens.ts';
import { projectRoot } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    sockets: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
  },
});
const events = args.quick ? 300 : Number(args.events);
const rate = Number(args.rate);
const socketCount = Number(args.sockets);
const log = createLogger('warn');
const secret = randomBytes(32).toString('base64url');

/** Wall-clock now in microseconds, with sub-millisecond resolution. */
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
/** "2026-11-22T16:39:27.797088+00:00" -> microseconds since the epoch. */
const micros = (iso: string) => Date.parse(iso.slice(0, 23) + 'Z') * 1000 + Number(iso.slice(23, 26));

const tmp = await mkdtemp(join(tmpdir(), 'deskwire-bench-'));
await chmod(tmp, 0o755);
let stopDatabase = async () => {};
let server: ChildProcess | undefined;
try {
  // 1. A database of the bench's own: on DATABASE_URL's server, or embedded (durable, as in production).
  let url: string;
  let where: string;
  if (process.env.DATABASE_URL) {
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    const name = `deskwire_bench_${process.pid}`;
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    await admin.end();
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    where = 'DATABASE_URL';
    stopDatabase = async () => {
      const a = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    };
  } else {
    const embedded = await startEmbeddedPostgres({ dataDir: tmp, log });
    url = embedded.url;
    where = 'embedded';
    stopDatabase = embedded.stop;
  }
  await migrate(url, log);
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  await sql`INSERT INTO organizations (name) VALUES ('bench')`;
  const [client] = await sql`INSERT INTO clients (organization, name) VALUES ('bench', 'load') RETURNING id`;
  const [desk] = await sql`INSERT INTO help_desks (client_id) VALUES (${client!.id}) RETURNING id`;

  // 2. deskwire in its own process.
  server = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'main.ts')], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url, JWT_SECRET: secret, PORT: '0', WS_PORT: '0', DATA_DIR: tmp, LOG_LEVEL: 'info', WS_CONNECTIONS_PER_TOKEN: String(socketCount + 10) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const up = await new Promise<{ websocket: string }>((resolve, reject) => {
    let out = '';
    server!.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('deskwire is up'));
      if (line) resolve(JSON.parse(line));
    });
    server!.once('exit', () => reject(new Error(`deskwire exited:\n${out}`)));
  });
  const token = await mintToken(secret, { org: 'bench', sub: 'bench', ttlSeconds: 3600 });
  const wsUrl = `${up.websocket.replace('<organization>', 'bench')}?token=${token}`;

  // 3. The receivers: S agent sockets and one bare LISTEN client.
  const gateway: number[] = [];
  const baseline: number[] = [];
  const seen = new Map<string, number>();
  const sockets = await Promise.all(
    Array.from({ length: socketCount }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.on('message', (raw) => {
        const at = nowMicros();
        const frame = JSON.parse(String(raw));
        if (frame.type !== 'new_message') return;
        const m = JSON.parse(frame.data);
        gateway.push(at - micros(m.created_at));
        seen.set(m.uuid, (seen.get(m.uuid) ?? 0) + 1);
      });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const listener = postgres(url, { max: 1, onnotice: () => {} });
  await listener.listen('deskwire', (payload) => {
    const at = nowMicros();
    for (const e of JSON.parse(payload)) if (e.type === 'new_message' && e.data) baseline.push(at - micros(e.data.created_at));
  });

  // 4. The writer, at a fixed rate: the i-th insert starts at t0 + i/rate, whatever the replies.
  const started = performance.now();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < events; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    writes.push(sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk!.id}, ${'bench ' + i})`.execute()); // now, not when awaited
  }
  await Promise.all(writes);
  const deadline = Date.now() + 10_000;
  while ((gateway.length < events * socketCount || baseline.length < events) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));

  const missing = events * socketCount - gateway.length;
  const duplicates = [...seen.values()].filter((n) => n > socketCount).length;
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]! / 1000;
    return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s.at(-1)! / 1000 };
  };
  const report = {
    date: new Date().toISOString(),
    machine: `${process.platform}-${process.arch}, node ${process.versions.node}, ${(await import('node:os')).cpus().length} cores`,
    database: where,
    events,
    rate,
    sockets: socketCount,
    baseline_listen_ms: stats(baseline),
    deskwire_frame_ms: stats(gateway),
    missing_frames: missing,
    duplicate_events: duplicates,
  };
  await mkdir(join(projectRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(projectRoot, 'bench', 'results', 'latency.json'), JSON.stringify(report, null, 2) + '\n');
  const row = (name: string, s: ReturnType<typeof stats>) =>
    `| ${name} | ${s.n} | ${s.p50.toFixed(2)} | ${s.p90.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.max.toFixed(2)} |`;
  console.log(`\ncommit-to-frame latency, ${events} events at ${rate}/s, ${socketCount} sockets, database ${where}\n`);
  console.log('| receiver | samples | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|');
  console.log(row('bare LISTEN client (baseline)', report.baseline_listen_ms));
  console.log(row('deskwire WebSocket frame', report.deskwire_frame_ms));
  console.log(`\nmissing frames: ${missing}, duplicated events: ${duplicates}; report: bench/results/latency.json`);

  for (const ws of sockets) ws.close();
  await listener.end();
  await sql.end();
  if (missing > 0 || duplicates > 0) process.exitCode = 1;
} finally {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
  await stopDatabase();
  await rm(tmp, { recursive: true, force: true });
}
