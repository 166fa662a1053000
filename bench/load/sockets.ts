// Load generator: agent sockets; the fallback for bench/load/sockets.c, used where
// there is no C compiler or with BENCH_NODE_CLIENTS=1. Opens `perOrg` sockets to
// each organization (from several 127.0.0.x source addresses: one address has ~28k
// ports), counts every frame, and on the first `timedPerOrg` sockets of each
// organization times each new_message from its row's created_at. Commands on
// stdin: report, reset, resume, close.
//
// A minimal WebSocket client on node:net: it reads frame headers off the byte
// stream and allocates nothing per frame (a general client costs several times
// more CPU per frame, and on this 2-core machine the client shares the CPUs with
// the server it measures). Server frames are unmasked and unfragmented (uWS, ws).
import { connect, type Socket } from 'node:net';
import { argsOf, commands, say } from '../lib/processes.ts';
import { isoMicros, nowMicros } from '../lib/stats.ts';

interface Args {
  url: string;
  orgs: { name: string; token: string }[];
  perOrg: number;
  timedPerOrg: number;
  sourceAddresses: string[];
  concurrency: number;
}
const args = argsOf<Args>();
const target = new URL(args.url);

interface Agent {
  org: string;
  token: string;
  timed: boolean;
  socket?: Socket;
  lastId: number;
}

let frames = 0;
let newMessages = 0;
let duplicates = 0;
let unexpectedCloses = 0;
let latencies: number[] = [];
let closing = false;
const agents: Agent[] = [];
for (const org of args.orgs) {
  for (let i = 0; i < args.perOrg; i++) agents.push({ org: org.name, token: org.token, timed: i < args.timedPerOrg, lastId: 0 });
}

const N = 0x6e; // 'n' of {"type":"new_message"
const typeAt = '{"type":"'.length;

function onFrame(agent: Agent, buf: Buffer, start: number, end: number, at: number) {
  frames++;
  // ...,"id":"123"}: the digits before the closing '"}'.
  let id = 0;
  for (let i = end - 3, scale = 1; i >= start && buf[i]! >= 0x30 && buf[i]! <= 0x39; i--, scale *= 10) id += (buf[i]! - 0x30) * scale;
  if (id <= agent.lastId) duplicates++;
  else agent.lastId = id;
  if (buf[start + typeAt] !== N) return;
  newMessages++;
  if (agent.timed) latencies.push((at - isoMicros(JSON.parse(JSON.parse(buf.toString('utf8', start, end)).data).created_at)) / 1000);
}

/** Resolves with null once upgraded, or with why it was not (an HTTP status, an error code). */
function open(agent: Agent, index: number, since?: number): Promise<string | null> {
  return new Promise((resolve) => {
    const path = `/ws/chat/${agent.org}/?token=${agent.token}${since !== undefined ? `&since=${since}` : ''}`;
    const socket = connect({ host: target.hostname, port: Number(target.port), localAddress: args.sourceAddresses[index % args.sourceAddresses.length] });
    agent.socket = socket;
    let upgraded = false;
    let pending: Buffer | undefined;
    socket.setNoDelay(true);
    socket.once('connect', () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      const at = nowMicros();
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      let off = 0;
      if (!upgraded) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return void (pending = buf);
        const status = buf.toString('latin1', 9, 12);
        if (status !== '101') {
          socket.destroy();
          return resolve(`HTTP ${status}`);
        }
        upgraded = true;
        resolve(null);
        off = headEnd + 4;
      }
      while (buf.length - off >= 2) {
        const opcode = buf[off]! & 0x0f;
        let len = buf[off + 1]! & 0x7f;
        let header = 2;
        if (len === 126) {
          if (buf.length - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          header = 4;
        } else if (len === 127) {
          if (buf.length - off < 10) break;
          len = Number(buf.readBigUInt64BE(off + 2));
          header = 10;
        }
        if (buf.length - off < header + len) break;
        const start = off + header;
        if (opcode === 1) onFrame(agent, buf, start, start + len, at);
        else if (opcode === 9) socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), buf.subarray(start, start + len)])); // pong, masked with 0
        off = start + len;
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('close', () => {
      resolve('closed before the upgrade');
      if (!closing && agent.socket === socket && upgraded) unexpectedCloses++;
    });
  });
}

/** Opens agents[i] for every i, `concurrency` handshakes at a time. */
async function openAll(concurrency: number, since: (a: Agent) => number | undefined): Promise<{ ms: number; failed: number; why: Record<string, number> }> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  const why: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: Math.min(concurrency, agents.length) }, async () => {
      while (next < agents.length) {
        const i = next++;
        const failure = await open(agents[i]!, i, since(agents[i]!));
        if (failure !== null) {
          failed++;
          why[failure] = (why[failure] ?? 0) + 1;
        }
      }
    }),
  );
  return { ms: performance.now() - started, failed, why };
}

const connected = await openAll(args.concurrency, () => undefined);
say({ ready: true, sockets: agents.length, connectMs: connected.ms, failed: connected.failed, why: connected.why });

commands(async (command) => {
  if (command === 'report') {
    say({ frames, newMessages, duplicates, unexpectedCloses, latencies: latencies.map((x) => Math.round(x * 1000) / 1000) });
  } else if (command === 'reset') {
    frames = newMessages = duplicates = unexpectedCloses = 0;
    latencies = [];
    say({ reset: true });
  } else if (command === 'resume') {
    // Every socket drops and comes back at once, each from the last event it saw.
    closing = true;
    await Promise.all(agents.map((a) => new Promise<void>((r) => (a.socket!.once('close', () => r()), a.socket!.destroy()))));
    closing = false;
    const resumed = await openAll(agents.length, (a) => a.lastId);
    say({ resumed: agents.length, ms: resumed.ms, failed: resumed.failed, why: resumed.why });
  } else if (command === 'close') {
    closing = true;
    for (const a of agents) a.socket?.destroy();
    say({ closed: true });
    process.exit(0);
  }
});
