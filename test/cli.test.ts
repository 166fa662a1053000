import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { findKey } from '../src/auth/keys.ts';
import { verifyToken } from '../src/auth/tokens.ts';
import { projectRoot } from '../src/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk } from './helpers/fixtures.ts';
import { startServerProcess } from './helpers/process.ts';
import { freePort, waitFor } from './helpers/wait.ts';

const secret = 'cli-test-secret-long-enough-for-hs256-0123456789';
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: db.url, JWT_SECRET: secret },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('org create, key create, key list, key revoke', async () => {
  assert.equal((await cli('org', 'create', 'acme')).code, 0);
  assert.deepEqual((await db.sql`SELECT name FROM organizations`).map((r) => r.name), ['acme']);

  const created = await cli('key', 'create', '--org', 'acme', '--name', 'zapier');
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^dwk_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /shown this once/);
  const found = await findKey(db.sql, key);
  assert.equal(found?.organization, 'acme');

  const listed = await cli('key', 'list', '--org', 'acme');
  assert.match(listed.stdout, new RegExp(`^${found!.id}\\s+active .*zapier`, 'm'));
  assert.ok(!listed.stdout.includes(key), 'the key itself is never shown again');

  assert.equal((await cli('key', 'revoke', found!.id)).code, 0);
  assert.equal(await findKey(db.sql, key), undefined);
  assert.equal((await cli('key', 'revoke', found!.id)).code, 1, 'revoking twice says so');
});

test('token mints a verifiable token for the organization', async () => {
  const { code, stdout } = await cli('token', '--org', 'acme', '--sub', 'alice', '--ttl', '15m');
  assert.equal(code, 0);
  const claims = await verifyToken(secret, stdout.trim());
  assert.equal(claims.org, 'acme');
  assert.equal(claims.sub, 'alice');
  assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + 900)) < 30);
});

test('--help prints the usage to stdout and exits 0', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await cli(flag);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /usage: npm run cli/);
  }
});

test('mistakes are explained, with exit code 2 for usage and 1 for failures', async () => {
  assert.equal((await cli('key', 'create', '--org', 'ghost')).code, 1);
  for (const args of [['nope'], ['org', 'list', '--bogus'], ['token', '--org'], ['token', '--org', 'bad name'], ['token', '--org', 'acme', '--ttl', '90y'], ['key', 'revoke', 'x'], []]) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /usage: npm run cli/);
  }
});

test('channel set prints the secret once; show never does; remove; a URL that is not http(s) is refused', async () => {
  await cli('org', 'create', 'initech');
  const set = await cli('channel', 'set', 'initech', 'https://provider.example.com/hook');
  assert.equal(set.code, 0, set.stderr);
  const secret = set.stdout.trim();
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  assert.match(set.stderr, /shown this once/);
  const [row] = await db.sql`SELECT kind, url, secret FROM channels WHERE organization = 'initech'`;
  assert.deepEqual({ ...row }, { kind: 'webhook', url: 'https://provider.example.com/hook', secret });

  const show = await cli('channel', 'show', 'initech');
  assert.equal(show.code, 0);
  assert.match(show.stdout, /^webhook https:\/\/provider\.example\.com\/hook {2}set /);
  assert.ok(!show.stdout.includes(secret) && !show.stderr.includes(secret), 'the secret is never shown again');

  const again = await cli('channel', 'set', 'initech', 'echo');
  assert.equal(again.code, 0);
  assert.notEqual(again.stdout.trim(), secret, 'a new secret each time');
  assert.match((await cli('channel', 'show', 'initech')).stdout, /^echo {2}set /);

  for (const url of ['ftp://provider.example.com/', 'file:///etc/passwd', 'https://user:pw@provider.example.com/']) {
    const bad = await cli('channel', 'set', 'initech', url);
    assert.equal(bad.code, 1, url);
    assert.match(bad.stderr, /http\(s\) URL/);
  }
  assert.equal((await cli('channel', 'set', 'nobody', 'echo')).code, 1, 'an unknown organization');
  assert.equal((await cli('channel', 'remove', 'initech')).code, 0);
  assert.equal((await cli('channel', 'show', 'initech')).code, 1);
  assert.equal((await cli('channel', 'remove', 'initech')).code, 1, 'removing twice says so');
  assert.equal((await cli('channel', 'set', 'initech')).code, 2, 'set needs a target');
});

test('tail prints each event as it comes, resumes after the server restarts, and says where to resume on Ctrl-C', { timeout: 60_000 }, async () => {
  await db.sql`INSERT INTO organizations (name) VALUES ('acme') ON CONFLICT DO NOTHING`;
  const desk = await createDesk(db.sql, 'acme', { name: 'Ana', phone: '+55 11 90000-0002' });
  const env = { DATABASE_URL: db.url, JWT_SECRET: secret, PORT: String(await freePort()), WS_PORT: String(await freePort()) };
  let server = await startServerProcess(env);
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), 'tail', 'acme', '--url', `ws://127.0.0.1:${env.WS_PORT}`], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitFor(() => stderr.includes('tailing acme'), 20_000, 'tail to connect');
    await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'first line')`;
    // The message, then its desk's update_helpdesk (its last message changed): two lines, maybe two reads.
    await waitFor(() => /update_helpdesk/.test(stdout), 10_000, 'the message and its desk on stdout');
    assert.match(stdout, /^\s*\d+\s+new_message\s+[0-9a-f]{8}\s+sent\/sending\s+"first line"$/m);
    assert.match(stdout, /^\s*\d+\s+update_helpdesk\s+[0-9a-f]{8}\s+Ana$/m);
    server.child.kill('SIGKILL');
    await server.exited();
    await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'while it was down')`;
    server = await startServerProcess(env);
    await waitFor(() => stdout.includes('"while it was down"'), 20_000, 'the message written while the server was down');
    assert.match(stderr, /disconnected/);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('close', r)); // 'close': after stdout and stderr are read to their end
    assert.equal(code, 0);
    const last = [...stdout.matchAll(/^\s*(\d+)\s/gm)].at(-1)![1];
    assert.match(stderr, new RegExp(`resume with --since ${last}\\b`));
  } finally {
    child.kill('SIGKILL');
    server.child.kill('SIGKILL');
  }
});
