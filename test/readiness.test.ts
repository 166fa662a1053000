// GET /readyz (CONTRACT §12): 503 while a process starts, 200 once its event stream
// has read the log, and 503 from the first moment of a SIGTERM's drain, while its
// sockets and requests are still served for DRAIN_GRACE; then 1001.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { launchServerProcess, startServerProcess } from './helpers/process.ts';
import { connect } from './helpers/socket.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'readiness-test-secret-long-enough-0123456789ab';
let db: TestDatabase;
let desk: Desk;
const children: ChildProcess[] = [];

before(async () => {
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await db?.drop();
});

const ready = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as { status?: string; error?: { code: string; message: string } } };
};

test('starting: the metrics port answers 503 "starting" until the event stream has read the log, then 200', { timeout: 60_000 }, async () => {
  const metricsPort = await freePort();
  // The start reads the log's end first: held back by a lock on it, it cannot be ready.
  const hold = await db.sql.reserve();
  await hold`BEGIN`;
  await hold`LOCK TABLE events IN ACCESS EXCLUSIVE MODE`;
  const launched = launchServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, METRICS_PORT: String(metricsPort) });
  children.push(launched.child);
  const url = `http://127.0.0.1:${metricsPort}/readyz`;
  let first: Awaited<ReturnType<typeof ready>> | undefined;
  await waitFor(async () => (first = await ready(url).catch(() => undefined)) !== undefined, 20_000, 'the metrics port to answer');
  assert.equal(first!.status, 503);
  assert.deepEqual(first!.body, { error: { code: 'unavailable', message: 'not ready: starting' } });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await ready(url)).status, 503, 'still starting while the log cannot be read');

  await hold`COMMIT`;
  hold.release();
  const server = await launched.up;
  assert.deepEqual(await ready(url), { status: 200, body: { status: 'ready' } });
  assert.deepEqual(await ready(`${server.rest}/readyz`), { status: 200, body: { status: 'ready' } }, 'the REST port says the same');
  server.child.kill('SIGKILL');
});

test('SIGTERM: /readyz is 503 at once; sockets and REST go on for DRAIN_GRACE, then 1001 and exit 0', { timeout: 60_000 }, async () => {
  const server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, DRAIN_GRACE: '2s' });
  children.push(server.child);
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  const socket = await connect(`${server.ws}/ws/chat/acme/?token=${token}`);
  let closedAt = 0;
  const closed = new Promise<number>((resolve) => socket.raw.once('close', (code) => ((closedAt = Date.now()), resolve(code))));
  assert.equal((await ready(`${server.rest}/readyz`)).status, 200);

  const signalled = Date.now();
  server.child.kill('SIGTERM');
  await waitFor(async () => (await ready(`${server.rest}/readyz`)).status === 503, 1000, '/readyz to turn 503 after SIGTERM');
  assert.deepEqual((await ready(`${server.rest}/readyz`)).body.error?.message, 'not ready: draining');
  assert.equal((await ready(server.metrics.replace('/metrics', '/readyz'))).status, 503, 'the metrics port says the same');

  // Still serving while the load balancer takes notice.
  await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'during the grace')`;
  const frame = await socket.next((f) => f.type === 'new_message' && JSON.parse(f.data).message === 'during the grace', 1500);
  assert.ok(frame, 'an event written during the grace reaches the socket');
  const desks = await fetch(`${server.rest}/api/help-desks/?organization=acme`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(desks.status, 200, 'REST answers during the grace');

  assert.equal(await closed, 1001);
  assert.ok(closedAt - signalled >= 1900, `sockets closed after the grace, not before (${closedAt - signalled} ms)`);
  assert.equal(await server.exited(), 0);
});

test('DRAIN_GRACE: a second SIGTERM skips the rest of the wait', { timeout: 60_000 }, async () => {
  const server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, DRAIN_GRACE: '60s' });
  children.push(server.child);
  server.child.kill('SIGTERM');
  await waitFor(async () => (await ready(`${server.rest}/readyz`)).status === 503, 1000, '/readyz to turn 503');
  const second = Date.now();
  server.child.kill('SIGTERM');
  assert.equal(await server.exited(), 0);
  assert.ok(Date.now() - second < 15_000, 'exited without waiting out the grace');
});
