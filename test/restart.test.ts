// deskwire restarted under resuming clients: what a deploy looks like to them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { outOfOrder, resumingClient } from './helpers/resuming.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'restart-test-secret-long-enough-0123456789abcd';
let db: TestDatabase;
let desk: Desk;

before(async () => {
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
});
after(() => db?.drop());

const write = async (n: number, tag: string) => {
  for (let i = 0; i < n; i++) await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${`${tag} ${i}`})`;
};

test('restarts, graceful or kill -9: a client resuming at once gets every event once, in order, and no resync_required', { timeout: 90_000 }, async () => {
  const env = { DATABASE_URL: db.url, JWT_SECRET: secret, PORT: String(await freePort()), WS_PORT: String(await freePort()) };
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  let server: ServerProcess = await startServerProcess(env);
  // Retries every 5-15 ms: it is in the moment the new process's port opens.
  const client = resumingClient((since) => `ws://127.0.0.1:${env.WS_PORT}/ws/chat/acme/?token=${token}${since ? `&since=${since}` : ''}`, { minMs: 5, maxMs: 15 });
  try {
    await waitFor(() => client.connections === 1, 5000, 'the first connection');
    let written = 0;
    const newMessages = () => client.frames.filter((f) => f.type === 'new_message').length;
    await write(10, 'before');
    written += 10;
    await waitFor(() => newMessages() === written, 5000, 'the first 10 messages');

    for (const [round, signal] of (['SIGKILL', 'SIGTERM', 'SIGKILL'] as const).entries()) {
      server.child.kill(signal);
      await server.exited();
      await write(5, `while down (${round}, ${signal})`); // committed while no process runs
      written += 5;
      server = await startServerProcess(env);
      await write(5, `after (${round}, ${signal})`);
      written += 5;
      await waitFor(() => newMessages() >= written, 10_000, `all ${written} messages after a ${signal} restart (have ${newMessages()})`);
    }
    await new Promise((r) => setTimeout(r, 300)); // anything extra, duplicated, would arrive now
    assert.equal(client.resyncs, 0, 'no resync_required');
    assert.deepEqual(outOfOrder(client.frames), [], 'ids strictly increase');
    const texts = client.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).message);
    assert.equal(texts.length, written, 'every message once');
    assert.equal(new Set(texts).size, written);
  } finally {
    client.stop();
    server.child.kill('SIGKILL');
  }
});
