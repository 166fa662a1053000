// Scenario 4: what events cost writers. pgbench INSERT transactions at 1..16
// concurrent writers, into messages (events: deskwire finds and sends every row)
// and into a twin of it without what deskwire adds (its written_by columns and
// index), in alternating rounds; deskwire running, one socket per organization
// counting what arrives. Writers run no trigger either way: the difference is all
// the event pipeline costs them, on the same two cores.
import postgres from 'postgres';
import { hasPgbench, pgbench, pgbenchScript } from '../lib/pgbench.ts';
import { median, round } from '../lib/stats.ts';
import { type Context, type Result, type Row, connectFleet, settle, tokensFor } from './context.ts';

export async function writers(ctx: Context): Promise<Result> {
  if (!(await hasPgbench())) {
    return { rows: [{ scenario: '4. writers', metric: 'pgbench not found', deskwire: '-', baseline: '-', target: '≥ 0.8×', met: null }], details: {} };
  }
  // Short rounds in pairs (with, without; then the other way round): this machine's
  // speed drifts by tens of percent over minutes, so each pair is compared with
  // itself, and the report gives the median of the pairs' ratios.
  const seconds = ctx.quick ? 3 : 6;
  const rounds = ctx.quick ? 1 : 5;
  const concurrency = [1, 2, 4, 8, 16];
  const sql = postgres(ctx.url, { max: 2, onnotice: () => {} });
  const { desks, scriptOf } = await writerTables(sql);
  const scripts = { on: await scriptOf('messages'), off: await scriptOf('bench_plain_messages') };
  // The same with room events in the mix: one transaction in ten publishes to a room
  // (a row in room_events, as POST /api/rooms/ and deskwire.publish write it) instead
  // of writing a message; without events, into a twin less written_by.
  await sql`DROP TABLE IF EXISTS bench_plain_room_events`;
  await sql`CREATE TABLE bench_plain_room_events (LIKE room_events INCLUDING ALL)`;
  await sql`ALTER TABLE bench_plain_room_events DROP COLUMN written_by,
    ADD FOREIGN KEY (organization) REFERENCES organizations (name) ON UPDATE CASCADE ON DELETE CASCADE`;
  const mixOf = (messages: string, rooms: string) =>
    pgbenchScript(`${messages}-mix`, [
      `\\set d random(1, ${desks})`,
      '\\set r random(1, 10)',
      '\\if :r = 1',
      `INSERT INTO ${rooms} (organization, room, type, data) VALUES ('${ctx.orgs[0]!.name}', 'payments-' || :d, 'payment.updated', '{"status": "paid", "amount": 4200}');`,
      '\\else',
      `INSERT INTO ${messages} (help_desk_id, message) SELECT id, 'from pgbench' FROM bench_desks WHERE n = :d;`,
      '\\endif',
      '',
    ].join('\n'));
  const mixed = { on: await mixOf('messages', 'room_events'), off: await mixOf('bench_plain_messages', 'bench_plain_room_events') };
  const fleet = await connectFleet(ctx.deskwire.ws, await tokensFor(ctx, ctx.orgs), 1, { timedPerOrg: 0 });
  await fleet.send('reset');
  let queueMax = 0;
  const sampler = setInterval(() => {
    sql`SELECT pg_notification_queue_usage() AS u`.then(([r]) => (queueMax = Math.max(queueMax, r!.u)), () => {});
  }, 250);

  let committedWithEvents = 0;
  let delivered = 0;
  const rows: Row[] = [];
  const runs: Record<string, unknown>[] = [];
  try {
    for (const c of concurrency) {
      const tps = { on: [] as number[], off: [] as number[] };
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const pair: Record<string, number> = {};
        for (const on of r % 2 ? [false, true] : [true, false]) {
          const result = await pgbench(ctx.url, scripts[on ? 'on' : 'off'], { clients: c, seconds });
          if (on) committedWithEvents += result.transactions;
          tps[on ? 'on' : 'off'].push(result.tps);
          pair[on ? 'on' : 'off'] = result.tps;
          runs.push({ writers: c, events: on, ...result });
        }
        ratios.push(pair.on! / pair.off!);
      }
      const ratio = median(ratios);
      ctx.log(`  writers ${c}: ${Math.round(median(tps.on))} tps with events, ${Math.round(median(tps.off))} without: ${round(ratio)}× (pairs: ${ratios.map((x) => round(x)).join(' ')})`);
      rows.push({ scenario: '4. writers pay little for events', metric: `${c} writer${c > 1 ? 's' : ''}: tps with / without events (${round(ratio)}×: median of ${rounds} pairs)`, deskwire: Math.round(median(tps.on)), baseline: Math.round(median(tps.off)), target: '≥ 0.8×', met: ratio >= 0.8 });
    }
    // Every message of the pass above delivered (before the mix adds messages of its own).
    delivered = await settle(async () => (await fleet.report()).newMessages, committedWithEvents);
    for (const c of concurrency) {
      const ratios: number[] = [];
      const tps = { on: [] as number[], off: [] as number[] };
      for (let r = 0; r < rounds; r++) {
        const pair: Record<string, number> = {};
        for (const on of r % 2 ? [false, true] : [true, false]) {
          const result = await pgbench(ctx.url, mixed[on ? 'on' : 'off'], { clients: c, seconds });
          tps[on ? 'on' : 'off'].push(result.tps);
          pair[on ? 'on' : 'off'] = result.tps;
          runs.push({ writers: c, events: on, roomEvents: true, ...result });
        }
        ratios.push(pair.on! / pair.off!);
      }
      const ratio = median(ratios);
      ctx.log(`  writers ${c}, 1 in 10 a room event: ${Math.round(median(tps.on))} tps with events, ${Math.round(median(tps.off))} without: ${round(ratio)}×`);
      rows.push({ scenario: '4. writers pay little for events', metric: `${c} writer${c > 1 ? 's' : ''}, 1 in 10 a room event: tps with / without events (${round(ratio)}×)`, deskwire: Math.round(median(tps.on)), baseline: Math.round(median(tps.off)), target: '≥ 0.8×', met: ratio >= 0.8 });
    }
  } finally {
    clearInterval(sampler);
  }
  await fleet.close();
  await sql.end();
  rows.push({ scenario: '4. writers pay little for events', metric: 'delivered new_message = committed rows', deskwire: delivered, baseline: committedWithEvents, target: 'equal', met: delivered === committedWithEvents });
  rows.push({ scenario: '4. writers pay little for events', metric: 'max pg_notification_queue_usage()', deskwire: queueMax, baseline: '-', target: '≈ 0', met: queueMax < 0.01 });
  return { rows, details: { seconds, rounds, runs, queueMax } };
}

/**
 * The writers' tables: desks by number, and a twin of messages, rows included, less
 * the columns deskwire adds. Returns how many desks, and the pgbench script that
 * inserts a message into a random desk of a table.
 */
export async function writerTables(sql: postgres.Sql): Promise<{ desks: number; scriptOf(table: string): Promise<string> }> {
  // A desk by number, through its primary key: without one, each transaction's
  // lookup scanned 10,000 rows, and events looked cheap next to that.
  await sql`CREATE TABLE IF NOT EXISTS bench_desks (n int PRIMARY KEY, id uuid NOT NULL)`;
  await sql`INSERT INTO bench_desks SELECT row_number() OVER (ORDER BY id), id FROM help_desks ON CONFLICT DO NOTHING`;
  const [{ desks }] = await sql`SELECT count(*)::int AS desks FROM bench_desks`;
  // The same table as deskwire's, rows included, less the columns deskwire adds.
  await sql`DROP TABLE IF EXISTS bench_plain_messages`;
  await sql`CREATE TABLE bench_plain_messages (LIKE messages INCLUDING ALL)`;
  await sql`ALTER TABLE bench_plain_messages DROP COLUMN written_by, DROP COLUMN created_by,
    ADD FOREIGN KEY (help_desk_id) REFERENCES help_desks (id) ON DELETE CASCADE`;
  await sql`INSERT INTO bench_plain_messages SELECT id, help_desk_id, message, file, type, status, created_at, updated_at FROM messages`;
  await sql`VACUUM ANALYZE bench_plain_messages`;
  const scriptOf = (table: string) =>
    pgbenchScript(table, `\\set d random(1, ${desks})\nINSERT INTO ${table} (help_desk_id, message) SELECT id, 'from pgbench' FROM bench_desks WHERE n = :d;\n`);
  return { desks, scriptOf };
}
