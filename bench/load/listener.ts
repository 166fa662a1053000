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
  // Lines of "<position> <organization> <frame>" (sql/040_sequence.sql).
  for (const line of payload.split('\n')) {
    events++;
    const frame = line.slice(line.indexOf(' ', line.indexOf(' ') + 1) + 1);
    if (frame.startsWith('{"type":"new_message"')) latencies.push((at - isoMicros(JSON.parse(JSON.parse(frame).data).created_at)) / 1000);
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
