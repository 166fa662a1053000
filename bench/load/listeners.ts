// N idle gateways as PostgreSQL sees them: N connections, each LISTENing on the
// sequencer's channel and reading every payload (scenario 11: what each costs).
import postgres from 'postgres';
import { channels } from '../../src/domain.ts';
import { argsOf, commands, say } from '../lib/processes.ts';

const { url, count } = argsOf<{ url: string; count: number }>();
const conns = Array.from({ length: count }, () => postgres(url, { max: 1, onnotice: () => {}, fetch_types: false, connection: { application_name: 'bench-listener' } }));
let payloads = 0;
for (const sql of conns) await sql.listen(channels.events, () => void payloads++);
say({ ready: true });
commands(async (command) => {
  if (command === 'report') say({ payloads });
  if (command === 'close') {
    await Promise.all(conns.map((c) => c.end({ timeout: 1 })));
    process.exit(0);
  }
});
