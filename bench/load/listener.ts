// The latency baseline: a bare `postgres` LISTEN client on deskwire's channel,
// timing each new_message from its row's created_at, as the sockets do.
import postgres from 'postgres';
import { channels } from '../../src/domain.ts';
import { parse } from '../../src/events/listener.ts';
import { argsOf, commands, say } from '../lib/processes.ts';
import { nowMicros, isoMicros, percentiles } from '../lib/stats.ts';

const { url } = argsOf<{ url: string }>();
const sql = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false });
let latencies: number[] = [];
let events = 0;
await sql.listen(channels.events, (payload) => {
  const at = nowMicros();
  for (const change of parse(payload) ?? []) {
    events += change.desk === null ? 1 : 2;
    if (change.type === 'new_message') latencies.push((at - isoMicros(JSON.parse(change.data!).created_at)) / 1000);
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
