// The process as a user runs it: `npm start` and `npm run migrate`, in a child process.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { mintToken } from '../src/auth/tokens.ts';
import { projectRoot } from '../src/config.ts';
import { unreachableFolders } from '../src/db/embedded.ts';

const adminUrl = process.env.DESKWIRE_TEST_ADMIN_URL!;
const secret = 'a-start-test-secret-of-enough-length-0123456789';
const created: string[] = [];
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'deskwire-start-'));
  await chmod(tmp, 0o755);
});
after(async () => {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  for (const name of created) await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  await rm(tmp, { recursive: true, force: true });
});

/** An empty database (not the migrated template): the process must migrate it. */
async function emptyDatabase(): Promise<string> {
  const name = `${process.env.DESKWIRE_TEST_TEMPLATE}_empty_${created.length}_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  await admin.end();
  created.push(name);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** package.json's command line for `npm start` or `npm run migrate`, node flags included. */
function commandOf(script: 'main' | 'migrate'): string[] {
  const scripts = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const [node, ...args] = scripts[script === 'main' ? 'start' : 'migrate']!.split(' ');
  assert.equal(node, 'node');
  return args.map((a) => (a.startsWith('src/') ? join(projectRoot, a) : a));
}

function run(script: 'main' | 'migrate', env: Record<string, string | undefined>): ChildProcess & { output: () => string } {
  const clean = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined));
  for (const name of ['DATABASE_URL', 'JWT_SECRET']) {
    delete clean[name];
    if (env[name]) clean[name] = env[name];
  }
  const child = spawn(process.execPath, commandOf(script), {
    cwd: projectRoot,
    env: clean as NodeJS.ProcessEnv,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return Object.assign(child, { output: () => out });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

async function upLine(child: ReturnType<typeof run>): Promise<{ rest: string; websocket: string }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const line = child.output().split('\n').find((l) => l.includes('deskwire is up'));
    if (line) return JSON.parse(line);
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never came up:\n${child.output()}`);
}

test('with DATABASE_URL, start migrates an empty database, says where it listens, and serves', async () => {
  const url = await emptyDatabase();
  const child = run('main', { DATABASE_URL: url, JWT_SECRET: secret, PORT: '0', WS_PORT: '0', DATA_DIR: join(tmp, 'a') });
  try {
    const up = await upLine(child);
    assert.match(up.rest, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(up.websocket, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat\/<organization>\/$/);
    const health = await fetch(`${up.rest}/healthz`);
    assert.equal(health.status, 200);
    const token = await mintToken(secret, { org: 'acme', sub: 'test', ttlSeconds: 60 });
    const list = await fetch(`${up.rest}/api/help-desks/?organization=acme`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(await list.json(), []);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited(child), 0);
});

test('npm run migrate applies migrations alone, and again is a no-op', async () => {
  const url = await emptyDatabase();
  for (let i = 0; i < 2; i++) {
    const child = run('migrate', { DATABASE_URL: url });
    assert.equal(await exited(child), 0, child.output());
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`;
  const [{ jobs }] = await sql`SELECT to_regclass('graphile_worker.jobs') IS NOT NULL AS jobs`;
  await sql.end();
  assert.deepEqual(tables.map((t) => t.tablename), [
    'api_keys', 'channel_contacts', 'channels', 'clients', 'delivery_claims', 'desk_changes', 'desk_prefixes', 'event_log', 'events', 'help_desks',
    'inbound_messages', 'messages', 'organizations', 'pgmigrations', 'room_events', 'sequencer', 'sql_definitions',
  ]);
  assert.equal(jobs, true, 'graphile-worker\'s schema is installed too');
});

test('with DATABASE_URL, start refuses to run without JWT_SECRET', async () => {
  const child = run('main', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: undefined });
  assert.equal(await exited(child), 2);
  assert.match(child.output(), /JWT_SECRET: is required with DATABASE_URL/);
});

test('a bad setting stops the start with a clear message', async () => {
  const child = run('main', { DATABASE_URL: 'mysql://nope', PORT: 'eighty' });
  assert.equal(await exited(child), 2);
  assert.match(child.output(), /invalid configuration: .*DATABASE_URL.*PORT/s);
});

test('without the native uWebSockets.js binary, start refuses instead of running slowly', async () => {
  const child = run('main', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: secret, UWS_USE_FALLBACK: '1' });
  assert.equal(await exited(child), 1);
  assert.match(child.output(), /slow JavaScript fallback/);
  assert.doesNotMatch(child.output(), /deskwire is up/);
});

test('an unreachable database stops the start with a clear message', async () => {
  const child = run('main', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: secret, PORT: '0', WS_PORT: '0' });
  assert.equal(await exited(child), 1);
  assert.match(child.output(), /cannot reach the database/);
});

test('without DATABASE_URL, start runs an embedded PostgreSQL under DATA_DIR, and starts again on it', async () => {
  const dataDir = join(tmp, 'embedded');
  for (let round = 0; round < 2; round++) {
    const child = run('main', { DATABASE_URL: undefined, PORT: '0', WS_PORT: '0', DATA_DIR: dataDir });
    try {
      const up = await upLine(child);
      assert.equal((await fetch(`${up.rest}/healthz`)).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited(child), 0, child.output());
  }
  assert.ok((await stat(join(dataDir, 'postgres', 'PG_VERSION'))).isFile());
  assert.ok((await stat(join(dataDir, 'media'))).isDirectory());
});

test('as root, a DATA_DIR other users cannot enter stops the embedded start with the chmod that fixes it', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const closed = join(tmp, 'closed');
  await mkdir(closed, { mode: 0o700 });
  const dataDir = join(closed, 'data');
  const child = run('main', { DATABASE_URL: undefined, PORT: '0', WS_PORT: '0', DATA_DIR: dataDir });
  assert.equal(await exited(child), 1, child.output());
  assert.ok(child.output().includes(`cannot enter ${closed}: run \\"chmod o+x ${closed}\\"`), child.output());
  assert.deepEqual(await unreachableFolders(dataDir), [closed]);
});
