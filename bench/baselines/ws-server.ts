// The fan-out baseline: what one would write without uWS, on the `ws` package.
// The same URL and token check (jose, as deskwire), one LISTEN on deskwire's
// channel, and for each event a loop over a Set of the organization's sockets,
// sending the same frame deskwire sends.
import { createServer } from 'node:http';
import postgres from 'postgres';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyToken } from '../../src/auth/tokens.ts';
import { eventsOf } from '../../src/events/event.ts';
import { channels } from '../../src/domain.ts';
import { parse } from '../../src/events/listener.ts';
import { argsOf, say } from '../lib/processes.ts';

const { url, secret } = argsOf<{ url: string; secret: string }>();
const byOrg = new Map<string, Set<WebSocket>>();
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4096 });

server.on('upgrade', async (req, socket, head) => {
  const u = new URL(req.url ?? '/', 'http://x');
  const org = /^\/ws\/chat\/([A-Za-z0-9_.-]+)\/$/.exec(u.pathname)?.[1];
  try {
    const claims = await verifyToken(secret, u.searchParams.get('token') ?? '');
    if (!org || claims.org !== org) throw new Error('forbidden');
  } catch {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let set = byOrg.get(org);
    if (!set) byOrg.set(org, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.on('error', () => {});
  });
});

const sql = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false });
// The payload read and framed as deskwire does (src/events/).
await sql.listen(channels.events, (payload) => {
  for (const change of parse(payload) ?? []) {
    const set = byOrg.get(change.organization);
    if (!set || change.large) continue; // too large to inline: not in the bench's load
    for (const e of eventsOf(change)) for (const ws of set) ws.send(e.frame);
  }
});
server.listen(0, '127.0.0.1', () => say({ ready: true, ws: `ws://127.0.0.1:${(server.address() as { port: number }).port}` }));
