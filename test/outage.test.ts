// PostgreSQL restarted under a stream of writes, on a cluster of this file's own.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { mintToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { type Deskwire, startDeskwire } from '../src/server.ts';
import { createDesk } from './helpers/fixtures.ts';
import { connect, type Frame } from './helpers/socket.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent');
const secret = 'outage-test-secret-long-enough-for-hs256-0123';
let dir: string;
let port: number;
let pg: EmbeddedDatabase;
let app: Deskwire;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deskwire-outage-'));
  await chmod(dir, 0o755);
  port = await freePort();
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port, log });
  await migrate(pg.url, log);
  const config = loadConfig({ DATABASE_URL: pg.url, JWT_SECRET: secret, PORT: '0', WS_PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'silent', WRITE_RATE_LIMIT: '100000' });
  app = await startDeskwire(config, pg.url, log);
});
after(async () => {
  await app?.close();
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a PostgreSQL restart during a stream: no crash, /healthz 503 then 200, every committed event delivered once', { timeout: 120_000 }, async (t) => {
  const rest = `http://127.0.0.1:${app.restPort}`;
  const setup = postgres(pg.url, { max: 1, onnotice: () => {} });
  const desk = await createDesk(setup, 'acme');
  await setup.end();
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  const socket = await connect(`ws://127.0.0.1:${app.wsPort}/ws/chat/acme/?token=${token}`);

  const writer = postgres(pg.url, { max: 2, onnotice: () => {}, connect_timeout: 2 });
  const committed: string[] = [];
  let failed = 0;
  let writing = true;
  const loop = (async () => {
    for (let i = 0; writing; i++) {
      const text = `w${i}`;
      await writer`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${text})`.then(
        () => committed.push(text),
        () => failed++,
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const health = async () => (await fetch(`${rest}/healthz`)).status;

  await waitFor(() => committed.length >= 100, 30_000, '100 writes committed before the outage');
  assert.equal(await health(), 200);
  await pg.stop();
  await waitFor(async () => (await health()) === 503, 10_000, '/healthz to answer 503 while the database is down');
  const sawDownAt = Date.now();
  const before = committed.length;
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port, log });
  const restartedAt = Date.now();
  await waitFor(() => committed.length >= before + 100, 60_000, '100 more writes committed after the restart');
  writing = false;
  await loop;
  await writer.end({ timeout: 1 });

  await waitFor(async () => (await health()) === 200, 10_000, '/healthz to answer 200 again');

  const delivered = () => socket.frames.filter((f: Frame) => f.type === 'new_message').map((f) => JSON.parse(f.data).message as string);
  const deadline = Date.now() + 20_000;
  while (committed.some((c) => !delivered().includes(c)) && Date.now() < deadline) await socket.quiet(50);
  await socket.quiet(300);
  const got = delivered();
  t.diagnostic(`committed ${committed.length} (${before} before the restart), ${failed} refused while down; delivered ${got.length}, duplicates ${got.length - new Set(got).size}; database down ${restartedAt - sawDownAt} ms; every committed event delivered ${Date.now() - restartedAt} ms after it came back (bound: the wait above)`);
  assert.deepEqual(committed.filter((c) => !got.includes(c)), [], 'every committed write was delivered');
  assert.equal(new Set(got).size, got.length, 'none twice');
  assert.ok(failed > 0, 'writes did fail while the database was down (the outage was real)');
  await socket.close();
});
