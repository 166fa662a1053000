import type { Sql } from 'postgres';

export interface Desk {
  organization: string;
  clientId: string;
  deskId: string;
}

/** An organization with one client and one help desk, written as any service would: plain SQL. */
export async function createDesk(sql: Sql, organization: string, client = { name: 'Nome do Cliente', phone: '123' }): Promise<Desk> {
  await sql`INSERT INTO organizations (name) VALUES (${organization}) ON CONFLICT DO NOTHING`;
  const [c] = await sql`INSERT INTO clients (organization, name, phone) VALUES (${organization}, ${client.name}, ${client.phone}) RETURNING id`;
  const [d] = await sql`INSERT INTO help_desks (client_id) VALUES (${c!.id}) RETURNING id`;
  return { organization, clientId: c!.id, deskId: d!.id };
}
