import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { connect } from './helpers/socket.ts';

const secret = 'shutdown-test-secret-long-enough-0123456789ab';
let db: TestDatabase;
let server: ServerProcess;
let acme: Desk;

before(async () => {
  db = await createTestDatabase();
  acme = await createDesk(db.sql, 'acme');
  server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret });
});
after(async () => {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  await db?.drop();
});

/** A multipart upload sent slowly, so it is still in flight when the signal comes. */
function slowUpload(url: string, token: string, ms: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const boundary = 'deskwireslowupload';
    const req = request(`${url}/api/send-message/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="help_desk"\r\n\r\n${acme.deskId}\r\n`);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\nContent-Type: text/plain\r\n\r\n`);
    const steps = 10;
    let i = 0;
    const timer = setInterval(() => {
      req.write('x'.repeat(1000));
      if (++i === steps) {
        clearInterval(timer);
        req.end(`\r\n--${boundary}--\r\n`);
      }
    }, ms / steps);
  });
}

test('SIGTERM during traffic: sockets closed with 1001, the request in flight finishes, exit 0 in bounded time', { timeout: 60_000 }, async () => {
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  const socket = await connect(`${server.ws}/ws/chat/acme/?token=${token}`);
  const closed = new Promise<number>((resolve) => socket.raw.once('close', (code) => resolve(code)));
  let writing = true;
  const traffic = (async () => {
    for (let i = 0; writing; i++) {
      await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, ${'traffic ' + i})`;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const upload = slowUpload(server.rest, token, 1500);
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(socket.frames.length > 0, 'events were flowing');
  const signalled = Date.now();
  server.child.kill('SIGTERM');

  assert.equal(await closed, 1001, 'sockets are told the server is going away');
  const finished = await upload;
  assert.equal(finished.status, 201, `the upload in flight finished: ${finished.body}`);
  assert.equal(await server.exited(), 0);
  const took = Date.now() - signalled;
  assert.ok(took < 12_000, `exited within the drain time (${took} ms)`);
  await assert.rejects(fetch(`${server.rest}/healthz`), 'no longer accepting');
  writing = false;
  await traffic;
  const [{ n }] = (await db.sql`SELECT count(*)::int AS n FROM messages WHERE file IS NOT NULL`) as any;
  assert.equal(n, 1, 'the upload was stored');
});
