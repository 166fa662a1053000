// `npm run schema`: writes schema.sql, the database as the migrations and sql/ leave
// it, so every schema change shows up in review. test/schema-dump.test.ts fails
// while the committed file is out of date.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../src/config.ts';
import { dumpSchema } from '../test/helpers/dump.ts';
import { createTestDatabase } from '../test/helpers/database.ts';

const db = await createTestDatabase();
try {
  await writeFile(join(projectRoot, 'schema.sql'), await dumpSchema(db.sql));
  console.log('wrote schema.sql');
} finally {
  await db.drop();
}
