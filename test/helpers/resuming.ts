import WebSocket from 'ws';
import type { Frame } from './socket.ts';

export interface ResumingClient {
  /** Every frame received, in order, across reconnects. */
  frames: (Frame & { id: string })[];
  resyncs: number;
  connections: number;
  stop(): void;
}

/**
 * A client as the README tells one to be written: on any close it reconnects
 * after a random delay in [minMs, maxMs] with ?since=<the last id it received>.
 */
export function resumingClient(url: (since: string | undefined) => string, { minMs = 50, maxMs = 500 } = {}): ResumingClient {
  const client: ResumingClient = { frames: [], resyncs: 0, connections: 0, stop: () => {} };
  let stopped = false;
  let current: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const open = () => {
    const last = client.frames.at(-1)?.id;
    const ws = new WebSocket(url(last));
    current = ws;
    ws.on('open', () => client.connections++);
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame & { id: string };
      if (f.type === 'resync_required') client.resyncs++;
      client.frames.push(f);
    });
    ws.on('error', () => {}); // refused while the server restarts: the close below retries
    ws.on('unexpected-response', () => ws.terminate()); // a 503 while it starts: retried like a close
    ws.once('close', () => {
      if (stopped || current !== ws) return;
      timer = setTimeout(open, minMs + Math.random() * (maxMs - minMs));
    });
  };
  open();
  client.stop = () => {
    stopped = true;
    clearTimeout(timer);
    current?.terminate();
  };
  return client;
}

/** Ids that do not strictly increase, as "a -> b" pairs (empty: every id came once, in order). */
export function outOfOrder(frames: { id: string }[]): string[] {
  const bad: string[] = [];
  for (let i = 1; i < frames.length; i++) {
    if (Number(frames[i]!.id) <= Number(frames[i - 1]!.id)) bad.push(`${frames[i - 1]!.id} -> ${frames[i]!.id}`);
  }
  return bad;
}
