import type { Sql } from 'postgres';

/**
 * Every NATS name deskwire uses, made here. One stream per database, so that two
 * deployments (or two test databases) on one NATS never hear each other: its
 * namespace is a hash of the PostgreSQL cluster's identifier and the database's name.
 */
export interface NatsNames {
  stream: string;
  /** Subjects the stream holds. */
  all: string;
  events(organization: string): string;
  windows: string;
  revoked: string;
}

export function natsNames(namespace: string): NatsNames {
  const root = `deskwire.${namespace}`;
  return {
    stream: `DESKWIRE_${namespace}`,
    all: `${root}.>`,
    events: (organization) => `${root}.events.${organization}`, // organizationName allows no space, *, > (dots are fine: the relay's subjects are never filtered by organization)
    windows: `${root}.windows`,
    revoked: `${root}.revoked`,
  };
}

export async function databaseNamespace(sql: Sql): Promise<string> {
  const [row] = await sql<{ ns: string }[]>`
    SELECT left(md5(coalesce((SELECT system_identifier::text FROM pg_control_system()), '') || '/' || current_database()), 12) AS ns`;
  return row!.ns;
}

/** Headers of an event message: the position of the change, and of the one the relay sent before it. */
export const headerNames = { position: 'Deskwire-Position', previous: 'Deskwire-Previous' } as const;
