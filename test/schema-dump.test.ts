import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../src/config.ts';
import { createTestDatabase } from './helpers/database.ts';
import { dumpSchema } from './helpers/dump.ts';

test('schema.sql is the schema the migrations make (run `npm run schema` after changing them)', async () => {
  const db = await createTestDatabase();
  try {
    assert.equal(await dumpSchema(db.sql), await readFile(join(projectRoot, 'schema.sql'), 'utf8'));
  } finally {
    await db.drop();
  }
});
