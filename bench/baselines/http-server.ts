// The REST baseline: bare node:http and `postgres`, running the same SQL as
// deskwire's routes for a send-message and a history, and nothing else: no
// framework, no auth, no validation beyond what the SQL needs. `/floor` is the
// machine's own floor for a request that asks PostgreSQL anything: `SELECT 1`;
// `/ping`, for one that asks nothing.
import { createServer } from 'node:http';
import postgres from 'postgres';
import { argsOf, say } from '../lib/processes.ts';

const { url } = argsOf<{ url: string }>();
const sql = postgres(url, { max: 10, onnotice: () => {}, fetch_types: false });
const org = 'org1';

const server = createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/api/send-message/') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const input = JSON.parse(body) as { help_desk: string; message: string };
      const [row] = await sql`
        INSERT INTO messages (help_desk_id, message, file, type, status)
        SELECT d.id, ${input.message}, ${null}, 'sent', 'sending' FROM help_desks d
        WHERE d.id = ${input.help_desk} AND d.organization = ${org}
        RETURNING deskwire.message_json(messages) AS body`;
      res.writeHead(201, { 'content-type': 'application/json' }).end(row!.body);
      return;
    }
    const desk = /^\/api\/help-desks\/([0-9a-f-]{36})\/history\/$/.exec(req.url ?? '')?.[1];
    if (req.method === 'GET' && desk) {
      // The route's query, with its paging parameters absent.
      const [b, a, ascending, limit] = [null, null, false, null];
      const [row] = await sql`
        WITH desk AS (
          SELECT id FROM help_desks WHERE id = ${desk} AND organization = ${org}
        ),
        b AS (SELECT created_at, id FROM messages WHERE id = ${b} AND help_desk_id = ${desk}),
        a AS (SELECT created_at, id FROM messages WHERE id = ${a} AND help_desk_id = ${desk}),
        page AS (
          SELECT m.* FROM messages m JOIN desk ON m.help_desk_id = desk.id
          WHERE (${b}::uuid IS NULL OR (m.created_at, m.id) < (SELECT created_at, id FROM b))
            AND (${a}::uuid IS NULL OR (m.created_at, m.id) > (SELECT created_at, id FROM a))
          ORDER BY
            CASE WHEN ${ascending} THEN m.created_at END, CASE WHEN ${ascending} THEN m.id END,
            m.created_at DESC, m.id DESC
          LIMIT ${limit}
        )
        SELECT
          EXISTS (SELECT 1 FROM desk) AS found,
          (${b}::uuid IS NULL OR EXISTS (SELECT 1 FROM b)) AND (${a}::uuid IS NULL OR EXISTS (SELECT 1 FROM a)) AS anchored,
          (SELECT '[' || coalesce(string_agg(deskwire.message_json(p), ',' ORDER BY p.created_at DESC, p.id DESC), '') || ']' FROM page p) AS body`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(row!.body);
      return;
    }
    if (req.method === 'GET' && req.url === `/api/help-desks/?organization=${org}`) {
      const [row] = await sql`
        SELECT '[' || coalesce(string_agg(deskwire.desk_json(
            coalesce(p.prefix, (SELECT deskwire.desk_prefix(d, c) FROM clients c WHERE c.id = d.client_id)),
            deskwire.message_json(last)), ',' ORDER BY d.created_at DESC, d.id DESC), '') || ']' AS body
        FROM help_desks d
        LEFT JOIN desk_prefixes p ON p.desk_id = d.id
        LEFT JOIN LATERAL (
          SELECT * FROM messages m WHERE m.help_desk_id = d.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
        ) last ON true
        WHERE d.organization = ${org}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(row!.body);
      return;
    }
    if (req.method === 'GET' && req.url === '/ping') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"one":1}');
      return;
    }
    if (req.method === 'GET' && req.url === '/floor') {
      const [row] = await sql`SELECT 1 AS one`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(row));
      return;
    }
    res.writeHead(404).end();
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});
server.listen(0, '127.0.0.1', () => say({ ready: true, rest: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
