import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

const adminUrl = process.env.DESKWIRE_TEST_ADMIN_URL;
const template = process.env.DESKWIRE_TEST_TEMPLATE;

/** A fresh, migrated database of this test file's own, cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!adminUrl || !template) throw new Error('run the tests with `npm test` (it prepares the database)');
  const name = `${template}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const sql = postgres(url, { max: 5, onnotice: () => {} });
  return {
    url,
    sql,
    async drop() {
      await sql.end();
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
