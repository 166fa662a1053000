import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { TestSocket } from './helpers/socket.ts';

let server: TestServer;
let acme: Desk;
let globex: Desk;

before(async () => {
  server = await startTestServer();
  acme = await createDesk(server.db.sql, 'acme');
  globex = await createDesk(server.db.sql, 'globex');
});
after(() => server.close());

const newMessageIds = (s: TestSocket) =>
  s.frames.filter((f) => f.type === 'new_message').map((f) => JSON.parse(f.data).uuid as string);

test('1000 concurrent writes from 20 connections each arrive exactly once, at their organization only', async () => {
  const sockets = { acme: [await server.socket('acme'), await server.socket('acme')], globex: [await server.socket('globex')] };
  const writers = postgres(server.db.url, { max: 20, onnotice: () => {}, connection: { application_name: 'test-writers' } });
  try {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const desk = i % 2 ? globex : acme;
        return writers`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${'m' + i}) RETURNING id`.then(
          ([r]) => ({ org: desk.organization, id: r!.id as string }),
        );
      }),
    );
    const [{ n }] = (await writers`SELECT count(DISTINCT pid) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'test-writers'`) as any;
    assert.equal(Number(n), 20, 'the writes really went over several connections');
    const expected = {
      acme: results.filter((r) => r.org === 'acme').map((r) => r.id).sort(),
      globex: results.filter((r) => r.org === 'globex').map((r) => r.id).sort(),
    };
    for (const [org, list] of Object.entries(sockets)) {
      for (const s of list) {
        const deadline = Date.now() + 10_000;
        while (newMessageIds(s).length < 500 && Date.now() < deadline) await s.quiet(20);
        await s.quiet(200); // anything extra (a duplicate) would arrive here
        assert.deepEqual(newMessageIds(s).sort(), expected[org as 'acme' | 'globex']);
      }
    }
  } finally {
    await writers.end();
    await Promise.all([...sockets.acme, ...sockets.globex].map((s) => s.close()));
  }
});
