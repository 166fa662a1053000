// The bench's database (its own, on DATABASE_URL's server or an embedded one),
// its organizations and desks, and deskwire itself in a child process.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { mintToken } from '../../src/auth/tokens.ts';
import { projectRoot } from '../../src/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log.ts';
import { type Proc, run } from './processes.ts';

export interface BenchDatabase {
  url: string;
  where: string;
  stop(): Promise<void>;
}

export async function createDatabase(tmp: string): Promise<BenchDatabase> {
  const log = createLogger('warn');
  let db: BenchDatabase;
  if (process.env.DATABASE_URL) {
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    const name = `deskwire_bench_${process.pid}`;
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = `/${name}`;
    db = {
      url: u.toString(),
      where: `PostgreSQL ${(await admin`SHOW server_version`)[0]!.server_version} (DATABASE_URL)`,
      async stop() {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await admin.end();
      },
    };
  } else {
    const embedded = await startEmbeddedPostgres({ dataDir: tmp, log });
    db = { url: embedded.url, where: 'embedded PostgreSQL 18', stop: embedded.stop };
  }
  await migrate(db.url, log);
  return db;
}

export interface Organization {
  name: string;
  desks: string[];
}

/** orgs organizations of one client each with desksPerOrg desks; seeds no events. */
export async function seed(url: string, orgs: number, desksPerOrg: number, messagesPerDesk = 0): Promise<Organization[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.begin(async (tx) => {
    // Bulk setup, not the workload: no triggers, no foreign-key checks, and no
    // events: a message written_by 0 is history from before deskwire, in no window.
    await tx`SET LOCAL session_replication_role = replica`;
    await tx`INSERT INTO organizations (name) SELECT 'org' || g FROM generate_series(1, ${orgs}) g ON CONFLICT DO NOTHING`;
    await tx`INSERT INTO clients (organization, name, phone) SELECT 'org' || g, 'client ' || g, '+55 11 5555-' || g FROM generate_series(1, ${orgs}) g`;
    await tx`INSERT INTO help_desks (organization, client_id) SELECT c.organization, c.id FROM clients c, generate_series(1, ${desksPerOrg})`;
    await tx`SELECT deskwire.fill_desk_prefixes()`; // their triggers did not run
    if (messagesPerDesk > 0) {
      await tx`
        INSERT INTO messages (help_desk_id, message, type, status, created_at, updated_at, written_by, created_by)
        SELECT d.id, 'seeded message ' || g, CASE WHEN g % 2 = 0 THEN 'sent' ELSE 'received' END, 'read',
               now() - make_interval(secs => ${messagesPerDesk} - g), now() - make_interval(secs => ${messagesPerDesk} - g), '0', '0'
        FROM help_desks d, generate_series(1, ${messagesPerDesk}) g`;
    }
  });
  // Settle the database before measuring: the seed's vacuum and checkpoint would
  // otherwise land in the first scenario's first round.
  await sql`VACUUM ANALYZE`;
  await sql`CHECKPOINT`;
  const rows = await sql<{ organization: string; id: string }[]>`SELECT organization, id FROM help_desks ORDER BY organization, id`;
  await sql.end();
  const byOrg = new Map<string, string[]>();
  for (const r of rows) byOrg.set(r.organization, [...(byOrg.get(r.organization) ?? []), r.id]);
  return [...byOrg].map(([name, desks]) => ({ name, desks })).sort((a, b) => Number(a.name.slice(3)) - Number(b.name.slice(3)));
}

export interface Deskwire {
  proc: Proc;
  rest: string;
  /** ws://host:port */
  ws: string;
  secret: string;
  token(org: string): Promise<string>;
}

/** Node's flags in `npm start` (V8's heap settings): the bench runs deskwire as it does. */
const startFlags = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).scripts.start as string)
  .split(' ')
  .filter((arg) => arg.startsWith('--') && arg !== '--import');

export async function startDeskwire(url: string, dataDir: string, env: Record<string, string> = {}): Promise<Deskwire> {
  const secret = randomBytes(32).toString('base64url');
  const proc = run('src/main.ts', null, {
    DATABASE_URL: url,
    JWT_SECRET: secret,
    PORT: '0',
    METRICS_PORT: '0',
    WS_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    WS_CONNECTIONS_PER_TOKEN: '1000000',
    WRITE_RATE_LIMIT: '1000000',
    AUTH_FAILURES_PER_MINUTE: '1000000',
    WS_IDLE_TIMEOUT: '960',
    // Scenario 8 runs the channel worker as a process of its own.
    WORKER: 'off',
    ...env,
  }, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []), ...(process.env.BENCH_PERF_MAP ? ['--perf-basic-prof'] : []), ...startFlags]);
  for (;;) {
    const line = await proc.next<{ msg?: string; rest?: string; websocket?: string }>();
    if (line.msg?.startsWith('deskwire is up')) {
      return {
        proc,
        rest: line.rest!,
        ws: line.websocket!.replace(/\/ws\/chat\/<organization>\/$/, ''),
        secret,
        token: (org) => mintToken(secret, { org, sub: 'bench', ttlSeconds: 24 * 3600 }),
      };
    }
  }
}
