// Load generator: GETs at a fixed rate (an open loop: the i-th request leaves at
// t0 + i/rate whatever the replies, on a kept-alive connection that is free, or a
// new one). autocannon's `overallRate` is not that: it sends each second's quota
// back to back at the start of the second, so its p99 is the tail of a burst.
import { Agent, request } from 'node:http';
import { argsOf, say } from '../lib/processes.ts';
import { percentiles } from '../lib/stats.ts';

interface Args {
  url: string;
  headers: Record<string, string>;
  rate: number;
  seconds: number;
}
const args = argsOf<Args>();
// A kept-alive socket left idle is closed by the server after 5 s (Node's
// keepAliveTimeout); a request that picks one as that close arrives fails (the
// likely cause of one error in a full run). With `timeout`, Node's agent closes its
// idle sockets first: at the server's `Keep-Alive: timeout=` hint less a second.
const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 4000 });
const latencies: number[] = [];
let errors = 0;
const errorCodes: Record<string, number> = {};
let non2xx = 0;
let late = 0;

function get(): Promise<void> {
  const sent = performance.now();
  return new Promise((resolve) => {
    const req = request(args.url, { agent, headers: args.headers }, (res) => {
      res.resume(); // read the body; it is not measured
      res.once('end', () => {
        latencies.push(performance.now() - sent);
        if (res.statusCode! < 200 || res.statusCode! >= 300) non2xx++;
        resolve();
      });
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      const what = err.code ?? err.message;
      errors++;
      errorCodes[what] = (errorCodes[what] ?? 0) + 1;
      resolve();
    });
    req.end();
  });
}

// Warm the connections first: the first request of each pays a TCP handshake.
await Promise.all(Array.from({ length: 4 }, get));
latencies.length = 0;
const total = Math.round(args.rate * args.seconds);
const requests: Promise<void>[] = [];
const started = performance.now();
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / args.rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  else if (wait < -5) late++;
  requests.push(get());
}
await Promise.all(requests);
const p = percentiles(latencies);
say({ rps: total / ((performance.now() - started) / 1000), total, p50: p.p50, p99: p.p99, max: p.max, errors, errorCodes, non2xx, late });
agent.destroy();
