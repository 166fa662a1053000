import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
let acme: Desk;

before(async () => {
  server = await startTestServer({ WS_IDLE_TIMEOUT: '8' });
  acme = await createDesk(server.db.sql, 'acme');
});
after(() => server.close());

test('a dead peer is closed by the ping and idle timeout; a live idle one stays', { timeout: 60_000 }, async () => {
  const live = await server.socket('acme');
  const dead = await server.socket('acme');
  let pinged = false;
  live.raw.on('ping', () => (pinged = true));
  // A peer that vanished: its socket reads nothing, so it never answers a ping.
  const tcp = (dead.raw as unknown as { _socket: import('node:net').Socket })._socket;
  tcp.pause();
  await new Promise((r) => setTimeout(r, 20_000));

  const closed = new Promise<void>((resolve) => dead.raw.once('close', () => resolve()));
  tcp.resume(); // now it reads what the server sent: the close
  await closed;

  assert.ok(pinged, 'the server pinged the idle socket');
  assert.equal(live.raw.readyState, WebSocket.OPEN);
  await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'still there')`;
  const frame = await live.next((f) => f.type === 'new_message');
  assert.equal(JSON.parse(frame.data).message, 'still there');
  await live.close();
});
