// The latency baseline: a bare `postgres` LISTEN client on deskwire's channel,
// timing each new_message from its row's created_at, as the sockets do.
import postgres from 'postgres';
import { argsOf, commands, say } from '../lib/processes.ts';
import { nowMicros, isoMicros, percentiles } from '../lib/stats.ts';

const { url } = argsOf<{ url: string }>();
const sql = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false });
let latencies: number[] = [];
let events = 0;
await sql.listen('deskwire', (payload) => {
  const at = nowMicros();
  for (const e of JSON.parse(payload)) {
    events++;
    if (e.type === 'new_message' && e.data) latencies.push((at - isoMicros(e.data.created_at)) / 1000);
  }
});
say({ ready: true });
commands((command) => {
  if (command === 'report') say({ events, latencyMs: percentiles(latencies) });
  if (command === 'reset') {
    latencies = [];
    events = 0;
    say({ reset: true });
  }
  if (command === 'close') void sql.end().then(() => process.exit(0));
});
