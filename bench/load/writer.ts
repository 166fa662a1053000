// Load generator where there is no pgbench (bench/lib/pgbench.ts says why that
// comes first): messages at a fixed rate, round-robin over the organizations'
// desks. The i-th INSERT starts at t0 + i/rate whatever the replies (an open loop:
// a slow server does not slow the load down). Prints what it committed, by organization.
import postgres from 'postgres';
import { argsOf, say } from '../lib/processes.ts';

interface Args {
  url: string;
  orgs: { name: string; desks: string[] }[];
  rate: number;
  seconds: number;
}
const args = argsOf<Args>();
const sql = postgres(args.url, { max: 16, onnotice: () => {}, fetch_types: false });
await sql`SELECT 1`;
say({ ready: true });

const committed: Record<string, number> = {};
let errors = 0;
let late = 0;
const total = Math.round(args.rate * args.seconds);
const writes: Promise<unknown>[] = [];
const started = performance.now();
for (let i = 0; i < total; i++) {
  const org = args.orgs[i % args.orgs.length]!;
  const desk = org.desks[Math.floor(i / args.orgs.length) % org.desks.length]!;
  const due = started + (i * 1000) / args.rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  else if (wait < -10) late++;
  writes.push(
    sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk}, ${'load ' + i})`
      .execute() // now, not when awaited
      .then(
        () => (committed[org.name] = (committed[org.name] ?? 0) + 1),
        () => errors++,
      ),
  );
}
await Promise.all(writes);
say({ committed, total: Object.values(committed).reduce((a, b) => a + b, 0), errors, late, seconds: (performance.now() - started) / 1000 });
await sql.end();
