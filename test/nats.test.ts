// FANOUT=nats (CONTRACT §12): one LISTEN per database, however many gateways; NATS
// restarted mid-stream, with its storage or without it, costs the sockets nothing:
// what it lost is read from the database's log.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createKey } from '../src/auth/keys.ts';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { connect, type TestSocket } from './helpers/socket.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const natsServer = '/usr/sbin/nats-server';
const secret = 'nats-test-secret-long-enough-0123456789abcdef';
const skip = !existsSync(natsServer) && `no ${natsServer}`;
let db: TestDatabase;
let desk: Desk;
let natsPort: number;
let storeDir: string;
let nats: ChildProcess | undefined;
const servers: ServerProcess[] = [];

/** A NATS server of this test's own, as the machine runs one: JetStream, a store on disk. */
async function startNats(store: string): Promise<ChildProcess> {
  const child = spawn(natsServer, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', store], { stdio: 'ignore' });
  await waitFor(
    () => new Promise<boolean>((resolve) => {
      fetch(`http://127.0.0.1:${natsPort}`).then(() => resolve(true), (err) => resolve(err?.cause?.code !== 'ECONNREFUSED'));
    }),
    10_000,
    'nats-server to listen',
  );
  return child;
}
const stopNats = async () => {
  if (!nats || nats.exitCode !== null) return;
  const exited = new Promise((r) => nats!.once('exit', r));
  nats.kill('SIGKILL');
  await exited;
};

before(async () => {
  if (skip) return;
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
  natsPort = await freePort();
  storeDir = await mkdtemp(join(tmpdir(), 'deskwire-nats-'));
  nats = await startNats(storeDir);
});
after(async () => {
  for (const s of servers) s.child.kill('SIGKILL');
  await stopNats();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
  await db?.drop();
});

const start = async () => {
  const s = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret, FANOUT: 'nats', NATS_URL: `nats://127.0.0.1:${natsPort}` });
  servers.push(s);
  return s;
};
const texts = (s: TestSocket, tag: string) => s.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).message as string).filter((t) => t.startsWith(tag));

test('two gateways on NATS: one LISTEN on the database; both sockets get every event', { skip, timeout: 60_000 }, async () => {
  const [a, b] = [await start(), await start()];
  const [{ n }] = (await db.sql`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'deskwire-listener' AND datname = current_database()`) as any;
  assert.equal(n, 1, 'only the relay of the leading process listens');
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  const sockets = [await connect(`${a!.ws}/ws/chat/acme/?token=${token}`), await connect(`${b!.ws}/ws/chat/acme/?token=${token}`)];
  for (let i = 0; i < 20; i++) await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${'both ' + i})`;
  const want = Array.from({ length: 20 }, (_, i) => 'both ' + i);
  for (const s of sockets) await waitFor(() => texts(s, 'both ').length >= 20, 5000, 'twenty messages on each socket');
  for (const s of sockets) assert.deepEqual(texts(s, 'both '), want);
  // The sequencer's windows reach the gateways through NATS too: commit to publish is observed.
  for (const s of [a!, b!]) {
    await waitFor(async () => /^deskwire_commit_to_publish_seconds_count [1-9]/m.test(await (await fetch(s.metrics)).text()), 5000, `commit to publish observed on ${s.metrics}`);
  }
  for (const s of sockets) await s.close();
});

test('a rolling switch to NATS: a FANOUT=nats process beside a FANOUT=listen one whose sequencer leads gets every event', { skip, timeout: 60_000 }, async () => {
  // On a database of its own, so that the listen process's sequencer is the one that leads.
  const other = await createTestDatabase();
  const started: ServerProcess[] = [];
  try {
    const d = await createDesk(other.sql, 'acme');
    const env = { DATABASE_URL: other.url, JWT_SECRET: secret, NATS_URL: `nats://127.0.0.1:${natsPort}` };
    started.push(await startServerProcess({ ...env, FANOUT: 'listen' }));
    await waitFor(async () => /^deskwire_sequencer_leader 1$/m.test(await (await fetch(started[0]!.metrics)).text()), 5000, 'the listen process to lead');
    started.push(await startServerProcess({ ...env, FANOUT: 'nats' }));
    const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
    const sockets = [await connect(`${started[0]!.ws}/ws/chat/acme/?token=${token}`), await connect(`${started[1]!.ws}/ws/chat/acme/?token=${token}`)];
    for (let i = 0; i < 10; i++) await other.sql`INSERT INTO messages (help_desk_id, message) VALUES (${d.deskId}, ${'mixed ' + i})`;
    const want = Array.from({ length: 10 }, (_, i) => 'mixed ' + i);
    for (const s of sockets) await waitFor(() => texts(s, 'mixed ').length >= 10, 5000, 'ten messages on each socket');
    for (const s of sockets) assert.deepEqual(texts(s, 'mixed '), want);
    for (const s of sockets) await s.close();
  } finally {
    for (const s of started) s.child.kill('SIGKILL');
    await Promise.all(started.map((s) => s.exited()));
    await other.drop();
  }
});

test('a key revoked with plain SQL closes its sockets on a NATS gateway (4003)', { skip, timeout: 30_000 }, async () => {
  const server = servers[0] ?? (await start());
  const { id, key } = await createKey(db.sql, 'acme', 'nats-revoked');
  const socket = await connect(`${server.ws}/ws/chat/acme/?token=${key}`);
  const closed = new Promise<number>((resolve) => socket.raw.once('close', (code) => resolve(code)));
  await db.sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id}`;
  assert.equal(await closed, 4003);
});

for (const wiped of [false, true]) {
  test(`NATS restarted mid-stream${wiped ? ', its storage lost' : ''}: the socket stays open and gets every event once, in order`, { skip, timeout: 90_000 }, async () => {
    const server = servers[0] ?? (await start());
    const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
    const socket = await connect(`${server.ws}/ws/chat/acme/?token=${token}`);
    let closed = false;
    socket.raw.once('close', () => (closed = true));
    const tag = wiped ? 'wiped ' : 'kept ';
    const written: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${tag + i})`;
        written.push(tag + i);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await waitFor(() => texts(socket, tag).length > 20, 5000, 'events flowing through NATS');

    await stopNats();
    await new Promise((r) => setTimeout(r, 1000)); // written meanwhile: nothing carries them
    const ready = await fetch(`${server.rest}/readyz`);
    assert.equal(ready.status, 503, 'not ready while its events cannot reach it');
    const store = wiped ? await mkdtemp(join(tmpdir(), 'deskwire-nats-')) : storeDir;
    nats = await startNats(store);
    await new Promise((r) => setTimeout(r, 1000));
    writing = false;
    await writer;
    await waitFor(() => texts(socket, tag).length >= written.length, 15_000, `all ${written.length} messages (have ${texts(socket, tag).length})`);
    await socket.quiet(300);
    assert.deepEqual(texts(socket, tag), written, 'every message once, in commit order');
    const ids = socket.frames.map((f) => Number(f.id));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ids increase');
    assert.equal(closed, false, 'the socket never noticed');
    await waitFor(async () => (await fetch(`${server.rest}/readyz`)).status === 200, 10_000, '/readyz 200 again');
    await socket.close();
    if (wiped) await rm(store, { recursive: true, force: true });
  });
}
