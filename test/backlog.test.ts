// A fleet reconnecting at once must not wait on the kernel's handshake retries:
// the WebSocket port listens with a backlog far past uSockets' fixed 512.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
before(async () => (server = await startTestServer()));
after(() => server.close());

test('the WebSocket port queues as many handshakes as the kernel allows, not 512', (t) => {
  let listing: string;
  try {
    listing = execFileSync('ss', ['-ltnH', `sport = :${new URL(server.ws).port}`], { encoding: 'utf8' });
  } catch {
    return t.skip('ss (iproute2) is not installed');
  }
  // For a listening socket, ss shows the backlog in the Send-Q column.
  const backlog = Number(listing.trim().split(/\s+/)[2]);
  const allowed = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  assert.equal(backlog, Math.min(allowed, 65535), `backlog ${backlog} (somaxconn ${allowed})`);
  assert.ok(backlog > 512 || allowed <= 512);
});

test('the server still accepts sockets after its backlog was raised', async () => {
  const agent = await server.socket('acme');
  await agent.close();
});
