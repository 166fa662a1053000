import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import postgres from 'postgres';
import { projectRoot } from '../config.ts';
import { installJobQueue } from '../channels/worker.ts';
import type { Logger } from '../log.ts';

export const migrationsDir = join(projectRoot, 'migrations');
export const definitionsDir = join(projectRoot, 'sql');

/** How long applying sql/ may wait for a table lock before it lets writers by and tries again. */
const lockTimeoutMs = 2000;
const lockTries = 30;

/**
 * Brings a database up to date: first the versioned migrations (tables, indexes,
 * constraints, drops of replaced functions) and graphile-worker's schema, then sql/ (functions and triggers,
 * written to be re-applied) when its text differs from what the database last
 * got, in one transaction. On an up-to-date database this takes no lock that a
 * writer would wait for. Safe to run from several processes at once: both steps
 * take an advisory lock.
 */
export async function migrate(databaseUrl: string, log: Logger): Promise<void> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    advisoryLockMode: 'wait',
    checkOrder: true,
    singleTransaction: true,
    logger: {
      debug: (m: string) => log.debug(m),
      info: (m: string) => log.debug(m),
      warn: (m: string) => log.warn(m),
      error: (m: string) => log.error(m),
    },
  });
  for (const m of applied) log.info({ migration: m.name }, 'migration applied');
  // graphile-worker's own schema (delivery jobs), before sql/, whose functions add jobs.
  await installJobQueue(databaseUrl, log);

  const { files, checksum } = await definitions();
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    if ((await appliedChecksum(sql)) === checksum) {
      log.debug('sql definitions up to date');
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const changed = await sql.begin(async (tx) => {
          await tx`SELECT pg_advisory_xact_lock(hashtext('deskwire.definitions'))`;
          if ((await appliedChecksum(tx)) === checksum) return false; // another process did it meanwhile
          // CREATE OR REPLACE TRIGGER waits for writers and makes the writers after it
          // wait: give up the lock after a while, so they go on, and try again.
          await tx.unsafe(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
          for (const file of files) await tx.unsafe(file.text);
          await tx`
            INSERT INTO sql_definitions (checksum) VALUES (${checksum})
            ON CONFLICT (singleton) DO UPDATE SET checksum = excluded.checksum, applied_at = excluded.applied_at`;
          return true;
        });
        if (changed) log.info({ files: files.map((f) => f.name) }, 'sql definitions applied');
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03' || attempt >= lockTries) throw err;
        log.warn({ attempt }, 'a table of ours was busy while applying sql/; trying again');
      }
    }
    // Outside that transaction: it scans every desk, and needs no lock a writer waits for.
    await sql`SELECT deskwire.fill_desk_prefixes()`;
  } finally {
    await sql.end();
  }
}

/** Whether the database has every migration and the sql/ definitions of this version. */
export async function isUpToDate(sql: postgres.Sql): Promise<boolean> {
  const { checksum } = await definitions();
  const names = (await readdir(migrationsDir)).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, ''));
  try {
    const rows = await sql<{ name: string }[]>`SELECT name FROM pgmigrations`;
    const done = new Set(rows.map((r) => r.name));
    return names.every((n) => done.has(n)) && (await appliedChecksum(sql)) === checksum;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false; // no pgmigrations, or no sql_definitions: never migrated
    throw err;
  }
}

async function definitions(): Promise<{ files: { name: string; text: string }[]; checksum: string }> {
  const names = (await readdir(definitionsDir)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const files = await Promise.all(names.map(async (name) => ({ name, text: await readFile(join(definitionsDir, name), 'utf8') })));
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.name}\0${f.text}\0`);
  return { files, checksum: hash.digest('hex') };
}

async function appliedChecksum(sql: postgres.Sql | postgres.TransactionSql): Promise<string | undefined> {
  const [row] = await sql<{ checksum: string }[]>`SELECT checksum FROM sql_definitions`;
  return row?.checksum;
}
