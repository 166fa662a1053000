// `npm test`: one PostgreSQL for the whole run (DATABASE_URL's server, or an embedded
// one), one template database migrated once, then node's test runner over every
// test/*.test.ts. Each test file clones the template, so files run in parallel and
// never see each other's rows.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { projectRoot } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
// Servers that test files start in processes of their own run side by side: /metrics on a free port each.
process.env.METRICS_PORT ??= '0';
// Their SIGTERMs close sockets at once: the grace is for a load balancer, and tests have none.
process.env.DRAIN_GRACE ??= '0s';
// `--script FILE` runs FILE against the prepared template instead of the tests.
const args = process.argv.slice(2);
const script = args[0] === '--script' ? args[1] : undefined;
const only = script ? [] : args;

let adminUrl = process.env.DATABASE_URL;
let stopEmbedded = async () => {};
if (!adminUrl) {
  const dataDir = await mkdtemp(join(tmpdir(), 'deskwire-test-'));
  await chmod(dataDir, 0o755); // the embedded server runs as another user
  const embedded = await startEmbeddedPostgres({ dataDir, database: 'postgres', ephemeral: true, log });
  adminUrl = embedded.url;
  stopEmbedded = embedded.stop;
  console.log('# database: embedded PostgreSQL');
} else {
  console.log('# database: DATABASE_URL');
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void stopEmbedded().finally(() => process.exit(130)));
}

const template = `deskwire_template_${process.pid}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
let code = 1;
try {
  await admin.unsafe(`CREATE DATABASE "${template}"`);
  await migrate(withDatabase(adminUrl, template), log);
  const testDir = join(projectRoot, 'test');
  const files = only.length
    ? only
    : (await readdir(testDir)).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(testDir, f));
  // Files that run several deskwire processes under a steady writer each: run on
  // their own after the rest, so two cores are not shared by them and four others.
  const alone = ['cluster.test.ts', 'nats.test.ts', 'workers.test.ts'];
  const isAlone = (f: string) => alone.some((a) => f.endsWith(a));
  const run = (argv: string[]) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', ...argv], {
        stdio: 'inherit',
        env: { ...process.env, DESKWIRE_TEST_ADMIN_URL: adminUrl, DESKWIRE_TEST_TEMPLATE: template },
      });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
  if (script) code = await run([script]);
  else {
    const shared = files.filter((f) => !isAlone(f));
    const separate = files.filter(isAlone);
    // A file's time limit is for hangs, not speed: test/cli.test.ts starts some thirty
    // CLI processes and took 100-170 s of its 180 beside four other files on two cores.
    const timeout = '--test-timeout=300000';
    code = shared.length ? await run(['--test', '--test-concurrency=4', timeout, ...shared]) : 0;
    if (separate.length) code = Math.max(code, await run(['--test', '--test-concurrency=1', timeout, ...separate]));
  }
} finally {
  const leftovers = await admin`SELECT datname FROM pg_database WHERE datname LIKE ${template + '%'}`;
  for (const { datname } of leftovers) await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await admin.end();
  await stopEmbedded();
}
process.exit(code);

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
