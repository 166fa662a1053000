// Faults in turn under resuming clients and a steady writer: at the end every
// socket holds every committed event of its organization once, in id order.
// Embedded run: a PostgreSQL cluster of this file's own, restarted for real.
// DATABASE_URL run: the shared server stays up; its "restart" is the database
// refusing connections with every backend of it terminated, for two seconds.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { mintToken } from '../src/auth/tokens.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { outOfOrder, type ResumingClient, resumingClient } from './helpers/resuming.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const log = createLogger('silent');
const secret = 'faults-test-secret-long-enough-for-hs256-0123';
const own = !process.env.DATABASE_URL;
let dir: string;
let pgPort: number;
let cluster: EmbeddedDatabase | undefined;
let shared: TestDatabase | undefined;
let url: string;

before(async () => {
  if (own) {
    dir = await mkdtemp(join(tmpdir(), 'deskwire-faults-'));
    await chmod(dir, 0o755);
    pgPort = await freePort();
    cluster = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: pgPort, log });
    url = cluster.url;
    await migrate(url, log);
  } else {
    shared = await createTestDatabase();
    url = shared.url;
  }
});
after(async () => {
  await shared?.drop();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function restartPostgres(admin: postgres.Sql): Promise<void> {
  if (cluster) {
    await cluster.stop();
    await new Promise((r) => setTimeout(r, 1000));
    cluster = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: pgPort, log });
    return;
  }
  const name = new URL(url).pathname.slice(1);
  await admin.unsafe(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name}`;
  await new Promise((r) => setTimeout(r, 2000));
  await admin.unsafe(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
}

test('LISTEN killed, PostgreSQL restarted, SIGTERM, kill -9, a 2,000-row burst: every committed event once, in order, no resync', { timeout: 150_000 }, async (t) => {
  const setup = postgres(url, { max: 1, onnotice: () => {} });
  const desks: Record<string, Desk> = { acme: await createDesk(setup, 'acme'), globex: await createDesk(setup, 'globex') };
  await setup.end();
  // On the shared server, a connection to another database: it outlives the "restart".
  const admin = postgres(own ? url : process.env.DESKWIRE_TEST_ADMIN_URL!, { max: 1, onnotice: () => {} });
  const env = {
    DATABASE_URL: url, JWT_SECRET: secret, PORT: String(await freePort()), WS_PORT: String(await freePort()),
    WS_CONNECTIONS_PER_TOKEN: '1000', WRITE_RATE_LIMIT: '100000', LOG_LEVEL: 'warn',
  };
  let server: ServerProcess = await startServerProcess(env);
  const clients: { org: string; client: ResumingClient }[] = [];
  for (let i = 0; i < 100; i++) {
    const org = i % 2 ? 'globex' : 'acme';
    const token = await mintToken(secret, { org, sub: `agent-${i}`, ttlSeconds: 600 });
    clients.push({ org, client: resumingClient((since) => `ws://127.0.0.1:${env.WS_PORT}/ws/chat/${org}/?token=${token}${since ? `&since=${since}` : ''}`) });
  }
  const writer = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  const committed: Record<string, string[]> = { acme: [], globex: [] };
  let writing = false;
  let steady: Promise<void> = Promise.resolve();
  const pause = () => new Promise((r) => setTimeout(r, 3000));
  try {
    await waitFor(() => clients.every((c) => c.client.connections > 0), 10_000, 'every socket connected');
    // Only now: a socket not yet open has no id to resume after, and would miss the first messages.
    writing = true;
    steady = (async () => {
      for (let i = 0; writing; i++) {
        const org = i % 2 ? 'globex' : 'acme';
        const text = `${org} steady ${i}`;
        await writer`INSERT INTO messages (help_desk_id, message) VALUES (${desks[org]!.deskId}, ${text})`.then(
          () => committed[org]!.push(text),
          () => {}, // down: the outcome of this one is unknown, so it is not counted
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await pause();

    const faults: [string, () => Promise<void>][] = [
      ['LISTEN killed', async () => {
        const killed = await admin`
          SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'deskwire-listener' AND datname = ${new URL(url).pathname.slice(1)}`;
        assert.equal(killed.length, 1, 'one LISTEN connection was killed');
      }],
      ['PostgreSQL restarted', () => restartPostgres(admin)],
      ['deskwire SIGTERM + start', async () => {
        server.child.kill('SIGTERM');
        await server.exited();
        server = await startServerProcess(env);
      }],
      ['deskwire kill -9 + start', async () => {
        server.child.kill('SIGKILL');
        await server.exited();
        server = await startServerProcess(env);
      }],
      ['2,000 rows in one transaction', async () => {
        const texts = Array.from({ length: 2000 }, (_, i) => `acme burst ${i}`);
        await writer`INSERT INTO messages (help_desk_id, message) SELECT ${desks.acme!.deskId}, unnest(${texts}::text[])`;
        committed.acme!.push(...texts);
      }],
    ];
    for (const [name, fault] of faults) {
      const started = Date.now();
      await fault();
      t.diagnostic(`${name}: ${Date.now() - started} ms`);
      await pause();
    }
    writing = false;
    await steady;

    const texts = (c: ResumingClient) => c.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).message as string);
    await waitFor(
      () => clients.every(({ org, client }) => new Set(texts(client)).size >= committed[org]!.length),
      30_000,
      'every socket to hold every committed message of its organization',
    ).catch((err: Error) => {
      const short = clients.filter(({ org, client }) => new Set(texts(client)).size < committed[org]!.length);
      const { org, client } = short[0]!;
      const have = new Set(texts(client));
      const missing = committed[org]!.filter((m) => !have.has(m));
      throw new Error(`${err.message}: ${short.length} sockets short; one of ${org} (${client.connections} connections, last id ${client.frames.at(-1)?.id}) misses ${missing.length}, first ${missing.slice(0, 3).join(', ')}`);
    });
    await new Promise((r) => setTimeout(r, 500)); // a duplicate, if any, would arrive now
    for (const { org, client } of clients) {
      const got = texts(client);
      const mine = new Set(got);
      assert.equal(client.resyncs, 0, `no resync_required (${org})`);
      assert.deepEqual(outOfOrder(client.frames), [], `ids strictly increase (${org})`);
      assert.equal(mine.size, got.length, `no message twice (${org})`);
      assert.deepEqual(committed[org]!.filter((m) => !mine.has(m)), [], `every committed message of ${org}`);
      assert.deepEqual(got.filter((m) => !m.startsWith(`${org} `)), [], `nothing of another organization (${org})`);
    }
    t.diagnostic(`committed acme ${committed.acme!.length}, globex ${committed.globex!.length}; connections ${clients.reduce((n, c) => n + c.client.connections, 0)}`);
  } finally {
    writing = false;
    for (const { client } of clients) client.stop();
    server.child.kill('SIGKILL');
    await writer.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
  }
});
