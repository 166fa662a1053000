import postgres from 'postgres';
import { mintToken } from './auth/tokens.ts';

const organization = 'demo';

/**
 * A first run in embedded mode should work when pasted: an organization "demo"
 * (with a client, a desk and a first message, made once), and lines to try it.
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
        await tx`INSERT INTO messages (help_desk_id, message, type) VALUES (${d!.id}, 'Oi! Is anyone there?', 'received')`;
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
  ].join('\n');
}
