import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { isWebhookUrl } from './post.ts';

export interface ChannelInfo {
  organization: string;
  kind: 'webhook' | 'echo';
  url: string | null;
  created_at: Date;
}

/**
 * Sets an organization's channel: a webhook URL, or `echo`. A new secret each
 * time, returned here once: it is never shown or logged again. Outgoing messages
 * written from now on are delivered to it.
 */
export async function setChannel(sql: Sql, organization: string, target: string): Promise<{ secret: string }> {
  const echo = target === 'echo';
  if (!echo && !isWebhookUrl(target)) throw new Error('the channel is an http(s) URL (without user:password@) or "echo"');
  const [org] = await sql`SELECT 1 FROM organizations WHERE name = ${organization}`;
  if (!org) throw new Error(`organization "${organization}" does not exist (npm run cli -- org create ${organization})`);
  const secret = randomBytes(32).toString('base64url');
  await sql`
    INSERT INTO channels (organization, kind, url, secret) VALUES (${organization}, ${echo ? 'echo' : 'webhook'}, ${echo ? null : target}, ${secret})
    ON CONFLICT (organization) DO UPDATE SET kind = excluded.kind, url = excluded.url, secret = excluded.secret, created_at = excluded.created_at`;
  return { secret };
}

/** The channel without its secret; undefined when the organization has none. */
export async function showChannel(sql: Sql, organization: string): Promise<ChannelInfo | undefined> {
  const [c] = await sql<ChannelInfo[]>`SELECT organization, kind, url, created_at FROM channels WHERE organization = ${organization}`;
  return c;
}

/** Removes the channel: outgoing messages stay `sending`; jobs waiting find no channel and end. */
export async function removeChannel(sql: Sql, organization: string): Promise<boolean> {
  return (await sql`DELETE FROM channels WHERE organization = ${organization}`).count > 0;
}
