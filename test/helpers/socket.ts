import { request } from 'node:http';
import WebSocket from 'ws';

export interface Frame {
  type: string;
  data: string;
  [extra: string]: unknown;
}

export interface TestSocket {
  frames: Frame[];
  /** Resolves with the first frame (from the start) matching `match` not yet taken. */
  next(match?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Waits `ms` and returns every frame that arrived, for asserting that nothing came. */
  quiet(ms: number): Promise<Frame[]>;
  raw: WebSocket;
  close(): Promise<void>;
}

/** A WebSocket client that records every text frame it receives. */
export function connect(url: string): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const raw = new WebSocket(url);
    const frames: Frame[] = [];
    const taken = new Set<number>();
    const waiters = new Set<() => void>();
    raw.on('message', (data) => {
      frames.push(JSON.parse(String(data)) as Frame);
      for (const w of waiters) w();
    });
    raw.once('error', reject);
    raw.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    raw.once('open', () =>
      resolve({
        frames,
        raw,
        next(match = () => true, timeoutMs = 5000) {
          return new Promise((res, rej) => {
            const check = () => {
              const i = frames.findIndex((f, idx) => !taken.has(idx) && match(f));
              if (i < 0) return false;
              taken.add(i);
              waiters.delete(check);
              clearTimeout(timer);
              res(frames[i]!);
              return true;
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rej(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => f.type))}`));
            }, timeoutMs);
            if (!check()) waiters.add(check);
          });
        },
        async quiet(ms) {
          const before = frames.length;
          await new Promise((r) => setTimeout(r, ms));
          return frames.slice(before);
        },
        close() {
          return new Promise((res) => {
            if (raw.readyState === WebSocket.CLOSED) return res();
            raw.once('close', () => res());
            raw.close();
          });
        },
      }),
    );
  });
}

/** A WebSocket upgrade request that expects to be refused: its status and body. */
export function upgradeRequest(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
}
