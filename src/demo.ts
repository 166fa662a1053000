import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { mintToken } from './auth/tokens.ts';

const organization = 'demo';

/**
 * A first run in embedded mode should work when pasted: an organization "demo"
 * (with a client, a desk, a first message and the echo channel, made once), and
 * lines to try it.
 */
export async function demoInstructions(databaseUrl: string, jwtSecret: string, rest: string, websocket: string): Promise<string> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  let deskId: string;
  try {
    deskId = await sql.begin(async (tx) => {
      const created = await tx`INSERT INTO organizations (name) VALUES (${organization}) ON CONFLICT DO NOTHING RETURNING name`;
      if (created.length) {
        const [c] = await tx`INSERT INTO clients (organization, name, phone) VALUES (${organization}, 'Demo client', '+55 11 99999-0000') RETURNING id`;
        const [d] = await tx`INSERT INTO help_desks (client_id) VALUES (${c!.id}) RETURNING id`;
        await tx`INSERT INTO messages (help_desk_id, message, type, status) VALUES (${d!.id}, 'Oi! Is anyone there?', 'received', 'delivered')`;
        // The echo channel (CONTRACT §10): a message sent goes sent, delivered, read, and gets a reply.
        await tx`INSERT INTO channels (organization, kind, secret) VALUES (${organization}, 'echo', ${randomBytes(32).toString('base64url')})`;
      }
      const [desk] = await tx`SELECT id FROM help_desks WHERE organization = ${organization} ORDER BY created_at LIMIT 1`;
      return desk?.id;
    });
  } finally {
    await sql.end();
  }
  const token = await mintToken(jwtSecret, { org: organization, sub: 'demo', ttlSeconds: 24 * 3600 });
  return [
    '',
    `  Try it: organization "${organization}", a token valid 24 h (more: npm run cli -- token --org ${organization})`,
    '',
    `    curl -H 'Authorization: Bearer ${token}' ${rest}/api/help-desks/`,
    '',
    `    curl -H 'Authorization: Bearer ${token}' -H 'content-type: application/json' \\`,
    `      -d '{"message": "Hello from curl", "help_desk": "${deskId ?? '<desk uuid>'}"}' ${rest}/api/send-message/`,
    '',
    `    websocket: ${websocket.replace('<organization>', organization)}?token=${token}`,
    '',
    `  The agent console: ${rest}/ (the token is filled in). The API: ${rest}/docs`,
    '',
    '  The demo organization has the echo channel: on the socket, a message sent goes',
    '  sent, delivered and read, and the client answers "echo: <text>".',
    '',
  ].join('\n');
}
