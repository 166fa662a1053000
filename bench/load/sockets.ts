// Load generator: agent sockets. Opens `perOrg` sockets to each organization (from
// several 127.0.0.x source addresses: one address has ~28k ports), counts every
// frame, and on the first `timedPerOrg` sockets of each organization times each
// new_message from its row's created_at. Commands on stdin: report, reset, resume, close.
import WebSocket from 'ws';
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

interface Agent {
  org: string;
  token: string;
  timed: boolean;
  ws?: WebSocket;
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

function open(agent: Agent, index: number, since?: number): Promise<boolean> {
  return new Promise((resolve) => {
    const query = `token=${agent.token}${since !== undefined ? `&since=${since}` : ''}`;
    const ws = new WebSocket(`${args.url}/ws/chat/${agent.org}/?${query}`, {
      perMessageDeflate: false,
      localAddress: args.sourceAddresses[index % args.sourceAddresses.length],
    });
    agent.ws = ws;
    ws.on('message', (raw: Buffer) => {
      const at = nowMicros();
      frames++;
      const text = raw.toString();
      const id = Number(text.slice(text.lastIndexOf('"id":"') + 6, -2));
      if (id <= agent.lastId) duplicates++;
      else agent.lastId = id;
      if (!text.startsWith('{"type":"new_message"')) return;
      newMessages++;
      if (agent.timed) latencies.push((at - isoMicros(JSON.parse(JSON.parse(text).data).created_at)) / 1000);
    });
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
    ws.once('close', () => {
      if (!closing && agent.ws === ws) unexpectedCloses++;
    });
  });
}

/** Opens agents[i] for every i, `concurrency` handshakes at a time. */
async function openAll(concurrency: number, since: (a: Agent) => number | undefined): Promise<{ ms: number; failed: number }> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, agents.length) }, async () => {
      while (next < agents.length) {
        const i = next++;
        if (!(await open(agents[i]!, i, since(agents[i]!)))) failed++;
      }
    }),
  );
  return { ms: performance.now() - started, failed };
}

const connected = await openAll(args.concurrency, () => undefined);
say({ ready: true, sockets: agents.length, connectMs: connected.ms, failed: connected.failed });

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
    await Promise.all(agents.map((a) => new Promise<void>((r) => (a.ws!.once('close', () => r()), a.ws!.terminate()))));
    closing = false;
    const resumed = await openAll(agents.length, (a) => a.lastId);
    say({ resumed: agents.length, ms: resumed.ms, failed: resumed.failed });
  } else if (command === 'close') {
    closing = true;
    for (const a of agents) a.ws?.terminate();
    say({ closed: true });
    process.exit(0);
  }
});
