import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';

let db: TestDatabase;
let acme: Desk;

before(async () => {
  db = await createTestDatabase();
  acme = await createDesk(db.sql, 'acme');
});
after(() => db.drop());

test('a bare INSERT from psql is a complete message', async () => {
  const [m] = await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'oi') RETURNING *`;
  assert.match(m!.id, /^[0-9a-f-]{36}$/);
  assert.equal(m!.type, 'sent');
  assert.equal(m!.status, 'sending');
  assert.equal(m!.file, null);
  assert.ok(m!.created_at instanceof Date);
  assert.equal(m!.updated_at.getTime(), m!.created_at.getTime());
});

test('updated_at is kept by the database on every update, whatever the writer says', async () => {
  const [m] = await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${acme.deskId}, 'oi') RETURNING *`;
  const [u] = await db.sql`UPDATE messages SET status = 'delivered', updated_at = '2000-01-01' WHERE id = ${m!.id} RETURNING *`;
  assert.ok(u!.updated_at > m!.updated_at);
  assert.equal(u!.created_at.getTime(), m!.created_at.getTime());
  const [c] = await db.sql`UPDATE clients SET phone = '999' WHERE id = ${acme.clientId} RETURNING created_at, updated_at`;
  assert.ok(c!.updated_at > c!.created_at);
});

test('a help desk takes its client\'s organization, and cannot take another', async () => {
  const [d] = await db.sql`SELECT organization FROM help_desks WHERE id = ${acme.deskId}`;
  assert.equal(d!.organization, 'acme');
  await db.sql`INSERT INTO organizations (name) VALUES ('globex')`;
  await assert.rejects(
    db.sql`INSERT INTO help_desks (client_id, organization) VALUES (${acme.clientId}, 'globex')`,
    /foreign key/,
  );
});

for (const [what, statement, error] of [
  ['an unknown type', `INSERT INTO messages (help_desk_id, message, type) VALUES ($1, 'x', 'spam')`, /messages_type_check/],
  ['an unknown status', `INSERT INTO messages (help_desk_id, message, status) VALUES ($1, 'x', 'lost')`, /messages_status_check/],
  ['neither message nor file', `INSERT INTO messages (help_desk_id) VALUES ($1)`, /messages_has_content/],
  ['an unknown desk', `INSERT INTO messages (help_desk_id, message) VALUES (gen_random_uuid(), 'x') -- $1`, /foreign key/],
] as const) {
  test(`the database refuses a message with ${what}`, async () => {
    await assert.rejects(db.sql.unsafe(statement.replace('-- $1', ''), statement.includes('-- $1') ? [] : [acme.deskId]), error);
  });
}

test('organization names are URL-safe and short', async () => {
  await assert.rejects(db.sql`INSERT INTO organizations (name) VALUES ('has space')`, /organizations_name_check/);
  await assert.rejects(db.sql`INSERT INTO organizations (name) VALUES (${'x'.repeat(65)})`, /organizations_name_check/);
});

test('deleting a help desk deletes its messages', async () => {
  const desk = await createDesk(db.sql, 'acme');
  await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'bye')`;
  await db.sql`DELETE FROM help_desks WHERE id = ${desk.deskId}`;
  const [{ n }] = (await db.sql`SELECT count(*)::int AS n FROM messages WHERE help_desk_id = ${desk.deskId}`) as any;
  assert.equal(n, 0);
});
