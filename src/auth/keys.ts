import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';

/** API keys look like `dwk_<43 characters>`: 256 random bits. */
export const keyPrefix = 'dwk_';

/** Keys are random and long, so a plain SHA-256 is enough to store them safely. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export interface ApiKey {
  id: string;
  organization: string;
  name: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** Creates a key for an organization; the key itself is returned once and never stored. */
export async function createKey(sql: Sql, organization: string, name: string): Promise<{ id: string; key: string }> {
  const key = keyPrefix + randomBytes(32).toString('base64url');
  const [row] = await sql`
    INSERT INTO api_keys (organization, name, hash) VALUES (${organization}, ${name}, ${hashKey(key)}) RETURNING id`;
  return { id: row!.id, key };
}

/**
 * Revokes a key now. Its open sockets close: a trigger tells the gateway
 * (sql/050_revocations.sql), as it does for any writer's UPDATE or DELETE.
 */
export async function revokeKey(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql`UPDATE api_keys SET revoked_at = clock_timestamp() WHERE id = ${id} AND revoked_at IS NULL RETURNING id`;
  return rows.length > 0;
}

export async function listKeys(sql: Sql, organization: string): Promise<ApiKey[]> {
  return sql<ApiKey[]>`
    SELECT id, organization, name, created_at, revoked_at FROM api_keys
    WHERE organization = ${organization} ORDER BY created_at`;
}

export async function findKey(sql: Sql, key: string): Promise<{ id: string; organization: string } | undefined> {
  const [row] = await sql<{ id: string; organization: string }[]>`
    SELECT id, organization FROM api_keys WHERE hash = ${hashKey(key)} AND revoked_at IS NULL`;
  return row;
}
