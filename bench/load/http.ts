// Load generator: autocannon, in a process of its own. Without `rate` it is closed
// loop (throughput); with `rate` it sends at that fixed rate (latency under load).
import autocannon from 'autocannon';
import { argsOf, say } from '../lib/processes.ts';

interface Args {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  seconds: number;
  rate?: number;
}
const args = argsOf<Args>();
const result = await autocannon({
  url: args.url,
  method: args.method,
  headers: args.headers,
  body: args.body,
  connections: args.connections,
  duration: args.seconds,
  ...(args.rate ? { overallRate: args.rate } : {}),
});
say({
  rps: result.requests.average,
  total: result.requests.total,
  p50: result.latency.p50,
  p99: result.latency.p99,
  errors: result.errors + result.timeouts,
  non2xx: result.non2xx,
});
