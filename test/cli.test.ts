import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { findKey } from '../src/auth/keys.ts';
import { verifyToken } from '../src/auth/tokens.ts';
import { projectRoot } from '../src/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

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
