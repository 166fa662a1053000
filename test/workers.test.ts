// WORKERS=<n> (CONTRACT §12): n gateway processes on one machine share PORT and
// WS_PORT; sockets spread over them, each gets every event once, one sequencer
// works, /metrics sums the workers, and a worker that dies is started again.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { outOfOrder, type ResumingClient, resumingClient } from './helpers/resuming.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'workers-test-secret-long-enough-0123456789abcd';
let db: TestDatabase;
let desk: Desk;
let server: ServerProcess;
let wsPort: number;
const clients: ResumingClient[] = [];

before(async () => {
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
  wsPort = await freePort();
  // Twenty sockets of one token, and their reconnects: above the per-process limits' defaults.
  server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, WORKERS: '2', PORT: String(await freePort()), WS_PORT: String(wsPort), WS_CONNECTIONS_PER_TOKEN: '100' });
});
after(async () => {
  for (const c of clients) c.stop();
  server?.child.kill('SIGKILL');
  for (const pid of workerPids()) process.kill(pid, 'SIGKILL');
  await db?.drop();
});

/** The primary's children. */
function workerPids(): number[] {
  if (!server?.child.pid) return [];
  try {
    return execFileSync('pgrep', ['-P', String(server.child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
/** Which process holds each established connection on WS_PORT (from ss). */
function socketOwners(): number[] {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${wsPort} )`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}
const scrape = async () => (await fetch(server.metrics)).text();
const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
const messages = (c: ResumingClient) => c.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).message as string);

test('two workers: sockets spread over both, every event reaches each once, one sequencer at work, /metrics sums them', { timeout: 60_000 }, async () => {
  const workers = workerPids();
  assert.equal(workers.length, 2, 'two worker processes');
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  for (let i = 0; i < 20; i++) clients.push(resumingClient((since) => `ws://127.0.0.1:${wsPort}/ws/chat/acme/?token=${token}${since ? `&since=${since}` : ''}`, { minMs: 5, maxMs: 30 }));
  await waitFor(() => clients.every((c) => c.connections === 1), 10_000, 'twenty sockets open');
  const owners = socketOwners();
  for (const pid of workers) assert.ok(owners.includes(pid), `worker ${pid} holds some of the sockets (${owners.length} seen)`);

  for (let i = 0; i < 10; i++) await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${'spread ' + i})`;
  const want = Array.from({ length: 10 }, (_, i) => 'spread ' + i);
  await waitFor(() => clients.every((c) => messages(c).length >= 10), 5000, 'ten messages on every socket');
  for (const [i, c] of clients.entries()) assert.deepEqual(messages(c), want, `client ${i} (${c.connections} connections): ${JSON.stringify(c.frames.map((f) => f.id))}`);

  assert.doesNotMatch(server.output(), /worker died|could not start/, `no worker died:\n${server.output().slice(-4000)}`);
  let text = '';
  await waitFor(async () => sample((text = await scrape()), 'deskwire_sockets_open') === 20, 5000, 'the primary to count 20 sockets over both workers');
  assert.equal(sample(text, 'deskwire_sequencer_leader'), 1, 'one sequencer at work');
  assert.equal((await fetch(server.metrics.replace('/metrics', '/readyz'))).status, 200, 'the primary is ready');
  assert.equal((await fetch(`${server.rest}/readyz`)).status, 200, 'the shared REST port answers');
  assert.doesNotMatch(server.output(), /worker died|could not start/, `no worker died:\n${server.output().slice(-4000)}`);
});

test('a worker killed: started again; the other worker\'s sockets never notice; the killed one\'s resume with nothing lost', { timeout: 60_000 }, async () => {
  const [victim, survivor] = workerPids();
  const owners = socketOwners();
  const before = clients.map((c) => c.connections);
  process.kill(victim!, 'SIGKILL');
  for (let i = 0; i < 10; i++) await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${'after ' + i})`;
  await waitFor(() => workerPids().length === 2 && !workerPids().includes(victim!), 15_000, 'the primary to start a new worker');
  await waitFor(() => clients.every((c) => messages(c).length >= 20), 15_000, 'every socket to have all twenty messages');
  await new Promise((r) => setTimeout(r, 300));
  for (const [i, c] of clients.entries()) {
    assert.deepEqual(messages(c).slice(10), Array.from({ length: 10 }, (_, i) => 'after ' + i), `client ${i} (${c.connections} connections)`);
    assert.deepEqual(outOfOrder(c.frames), [], `client ${i}`);
  }
  const moved = clients.filter((c, i) => c.connections > before[i]!).length;
  const onVictim = owners.filter((p) => p === victim).length;
  assert.equal(moved, onVictim, `only the killed worker's ${onVictim} sockets reconnected`);
  assert.ok(owners.includes(survivor!), `the other worker ${survivor} held sockets too (owners ${owners}, workers ${[victim, survivor]})`);
});

test('SIGTERM to the primary: every worker drains and exits, then the primary', { timeout: 60_000 }, async () => {
  const workers = workerPids();
  server.child.kill('SIGTERM');
  assert.equal(await server.exited(), 0);
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} is gone`);
});

test('the primary killed with -9: its workers stop too, and WS_PORT is free for the next start', { timeout: 60_000 }, async () => {
  server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, WORKERS: '2', PORT: String(await freePort()), WS_PORT: String(wsPort) });
  const workers = workerPids();
  assert.equal(workers.length, 2);
  server.child.kill('SIGKILL');
  await server.exited();
  const gone = (pid: number) => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor(() => workers.every(gone), 15_000, 'the orphaned workers to exit');
  assert.deepEqual(socketOwners(), []);
});
