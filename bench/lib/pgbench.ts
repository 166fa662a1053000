// pgbench as the writers' load generator: it is C, so the two cores it shares
// with deskwire go to PostgreSQL and deskwire, not to the load. The Node writer
// (bench/load/writer.ts) took 0.4 of a core for 1,000 INSERTs/s; pgbench a few
// hundredths.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import type { Organization } from './setup.ts';

const exec = promisify(execFile);

export interface PgbenchResult {
  tps: number;
  transactions: number;
  failed: number;
  /** With a rate: how far, on average, transactions started after their scheduled time. */
  scheduleLagMs: number | undefined;
}

let available: Promise<boolean> | undefined;
export const hasPgbench = () => (available ??= exec('pgbench', ['--version']).then(() => true, () => false));

/**
 * Runs a pgbench script for `seconds`. With `rate`, transactions are scheduled at
 * that many per second whatever the replies (an open loop, Poisson arrivals), one
 * thread drives every client, and rate x seconds of them run.
 */
export async function pgbench(url: string, script: string, opts: { clients: number; seconds: number; rate?: number; prepared?: boolean }): Promise<PgbenchResult> {
  const threads = opts.rate ? 1 : Math.min(opts.clients, 4);
  const { stdout } = await exec('pgbench', [
    '-n', ...(opts.prepared ? ['-M', 'prepared'] : []), '-f', script, '-c', String(opts.clients), '-j', String(threads),
    // With a rate, a count (-t, per client) rather than a time: all of rate x seconds
    // run, however long the connections take to open.
    ...(opts.rate ? ['-R', String(opts.rate), '-t', String(Math.round((opts.rate * opts.seconds) / opts.clients))] : ['-T', String(opts.seconds)]),
    url,
  ]);
  return {
    tps: Number(/tps = ([\d.]+)/.exec(stdout)![1]),
    transactions: Number(/number of transactions actually processed: (\d+)/.exec(stdout)![1]),
    failed: Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0),
    scheduleLagMs: opts.rate ? Number(/schedule lag: avg ([\d.]+)/.exec(stdout)?.[1]) : undefined,
  };
}

/** A pgbench script in a temporary file. */
export async function pgbenchScript(name: string, text: string): Promise<string> {
  const file = join(tmpdir(), `deskwire-pgbench-${process.pid}-${name}.sql`);
  await writeFile(file, text);
  return file;
}

/** A table of desks by number 1..n (`n`, `id`), for a pgbench script to pick one through its primary key (as in scenario 4). */
export async function numberDesks(sql: postgres.Sql, table: string, desks: string[]): Promise<void> {
  await sql`DROP TABLE IF EXISTS ${sql(table)}`;
  await sql`CREATE TABLE ${sql(table)} (n int PRIMARY KEY, id uuid NOT NULL)`;
  await sql`INSERT INTO ${sql(table)} SELECT n, id::uuid FROM unnest(${desks}::text[]) WITH ORDINALITY AS d(id, n)`;
}

let rounds = 0;

/**
 * Messages at `rate` per second for `seconds`, each INSERTed into a desk of orgs
 * picked at random, in its own transaction, from 32 connections. Returns how many
 * committed (counted in the table, by a tag only this call's rows carry).
 */
export async function insertAtRate(url: string, orgs: Organization[], rate: number, seconds: number): Promise<{ total: number; errors: number; scheduleLagMs: number | undefined }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const table = 'bench_rate_desks';
    const desks = orgs.flatMap((o) => o.desks);
    await numberDesks(sql, table, desks);
    const tag = `load ${process.pid}-${++rounds}`;
    const script = await pgbenchScript('rate', `\\set d random(1, ${desks.length})\nINSERT INTO messages (help_desk_id, message) SELECT id, '${tag}' FROM ${table} WHERE n = :d;\n`);
    const result = await pgbench(url, script, { clients: 32, seconds, rate, prepared: true });
    const [{ n }] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE message = ${tag}`;
    return { total: n!, errors: result.failed + Math.abs(result.transactions - n!), scheduleLagMs: result.scheduleLagMs };
  } finally {
    await sql.end();
  }
}
