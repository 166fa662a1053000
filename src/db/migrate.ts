import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import postgres from 'postgres';
import { projectRoot } from '../config.ts';
import type { Logger } from '../log.ts';

export const migrationsDir = join(projectRoot, 'migrations');
export const definitionsDir = join(projectRoot, 'sql');

/**
 * Brings a database up to date: first the versioned migrations (tables, indexes,
 * constraints), then every file of sql/ (functions and triggers, written to be
 * re-applied), in name order and in one transaction. Safe to run from several
 * processes at once: both steps take an advisory lock.
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

  const files = (await readdir(definitionsDir)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext('deskwire.definitions'))`;
      for (const file of files) await tx.unsafe(await readFile(join(definitionsDir, file), 'utf8'));
    });
  } finally {
    await sql.end();
  }
  log.debug({ files }, 'sql definitions applied');
}
