// What a deploy does underneath: migrate on a live database, the sequencer when
// the database goes or its functions are replaced, and closes the server starts.
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createKey, revokeKey } from '../src/auth/keys.ts';
import { definitionsDir, migrate } from '../src/db/migrate.ts';
import { startSequencer } from '../src/events/sequencer.ts';
import { createLogger } from '../src/log.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { waitFor } from './helpers/wait.ts';

let server: TestServer;
let acme: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
});
after(() => server?.close());

const oid = async (signature: string) => Number((await server.db.sql`SELECT ${signature}::regprocedure::oid AS oid`)[0]!.oid);

test('migrate on an up-to-date database waits for no writer and replaces no function', { timeout: 30_000 }, async () => {
  const before = await oid('deskwire.sequence_messages(pg_snapshot, pg_snapshot, bigint, integer)');
  // A writer in the middle of its transaction holds messages' row lock until it commits.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const writer = server.db.sql.begin(async (tx) => {
    await tx`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'open writer')`;
    await held;
  });
  try {
    const started = Date.now();
    await migrate(server.db.url, createLogger('silent'));
    assert.ok(Date.now() - started < 5000, `migrate finished while the writer was open (${Date.now() - started} ms)`);
  } finally {
    release();
    await writer;
  }
  assert.equal(await oid('deskwire.sequence_messages(pg_snapshot, pg_snapshot, bigint, integer)'), before, 'the function was not dropped and made anew');
});

test('functions replaced under the running sequencer (a deploy): events go on at once, numbered on', { timeout: 30_000 }, async () => {
  const socket = await server.socket('acme');
  await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'before the deploy')`;
  const first = await socket.next((f) => f.type === 'new_message');
  // What a new version's migrate may do: functions dropped and made anew, new identities.
  const text = await readFile(join(definitionsDir, '040_sequence.sql'), 'utf8');
  await server.db.sql.begin(async (tx) => {
    await tx.unsafe(`DROP PROCEDURE deskwire.run_sequencer; DROP FUNCTION deskwire.sequence_messages; DROP FUNCTION deskwire.changed_since;`);
    await tx.unsafe(text);
  });
  const written = Date.now();
  await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'after the deploy')`;
  const next = await socket.next((f) => f.type === 'new_message' && f.data.includes('after the deploy'), 5000);
  const took = Date.now() - written;
  assert.ok(took < 1500, `delivered ${took} ms after the write`);
  assert.ok(Number(next.id) - Number(first.id) < 1000, `numbered on from ${first.id}, not past a new lead (${next.id})`);
  await socket.close();
});

test('the sequencer backs off while the database cannot be reached, and warns once', { timeout: 30_000 }, async () => {
  // A "database" that answers every connection as PostgreSQL does while it restarts.
  let tries = 0;
  const fields = 'SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0';
  const starting = Buffer.concat([Buffer.from('E'), Buffer.alloc(4), Buffer.from(fields)]);
  starting.writeUInt32BE(4 + fields.length, 1);
  const refuser = createServer((s) => {
    tries++;
    s.once('data', () => s.end(starting));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
  const lines: string[] = [];
  const log = createLogger('warn', { write: (line: string) => void lines.push(line) });
  const sequencer = startSequencer(`postgres://postgres@127.0.0.1:${(refuser.address() as { port: number }).port}/none`, { log });
  await new Promise((r) => setTimeout(r, 2000));
  await sequencer.close();
  refuser.close();
  // 100, 200, 400, 800 ms: about 5 tries in 2 s (without backoff: hundreds).
  assert.ok(tries >= 2 && tries <= 8, `${tries} connection attempts in 2 s`);
  assert.equal(lines.filter((l) => l.includes('sequencer')).length, 1, `one warning: ${lines.join('')}`);
});

/** A WebSocket client that answers a close frame and then waits for the server to end TCP, as Python's websockets does. */
function rawSocket(port: number, path: string): Promise<{ socket: Socket; closeFrame: Promise<number>; tcpClosed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let onClose!: (code: number) => void;
    const closeFrame = new Promise<number>((r) => (onClose = r));
    const tcpClosed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (d) => {
      buffer = Buffer.concat([buffer, d]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buffer.subarray(0, 12).toString().includes('101')) return reject(new Error(buffer.toString()));
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        resolve({ socket, closeFrame, tcpClosed });
      }
      // Frames from the server are unmasked; lengths under 126 here.
      while (buffer.length >= 2 && buffer.length >= 2 + (buffer[1]! & 0x7f)) {
        const opcode = buffer[0]! & 0x0f;
        const payload = buffer.subarray(2, 2 + (buffer[1]! & 0x7f));
        buffer = buffer.subarray(2 + payload.length);
        if (opcode === 8) {
          const mask = randomBytes(4);
          const body = Buffer.from(payload.subarray(0, 2)).map((b, i) => b ^ mask[i % 4]!);
          socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | body.length]), mask, body])); // the answer; TCP is the server's to close
          onClose(payload.readUInt16BE(0));
        }
      }
    });
  });
}

test('a close the server starts (4003) ends the TCP connection as soon as the client answers it', { timeout: 30_000 }, async () => {
  const { id, key } = await createKey(server.db.sql, 'acme', 'raw client');
  const wsPort = Number(new URL(server.ws).port);
  const raw = await rawSocket(wsPort, `/ws/chat/acme/?token=${key}`);
  await new Promise((r) => setTimeout(r, 50));
  await revokeKey(server.db.sql, id);
  assert.equal(await raw.closeFrame, 4003);
  const answered = Date.now();
  const closedAt = await Promise.race([raw.tcpClosed, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
  raw.socket.destroy();
  assert.ok(closedAt > 0, 'the server closed TCP within 3 s of the answer');
  assert.ok(closedAt - answered < 1000, `TCP closed ${closedAt - answered} ms after the answer`);
});

test('waitFor fails with what it waited for', async () => {
  await assert.rejects(waitFor(() => false, 50, 'a thing that never comes'), /a thing that never comes/);
});
