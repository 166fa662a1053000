// The client package's types come from the OpenAPI document: the committed file is
// what `npm run client:types` makes now, and the package builds with its own
// TypeScript for browsers (DOM, no Node types: no Node-only import).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { clientTypes, clientTypesFile } from '../client/scripts/types.ts';
import { projectRoot } from '../src/config.ts';

test('client/src/api.ts is what `npm run client:types` makes from the document now', async () => {
  assert.equal(await readFile(clientTypesFile, 'utf8'), await clientTypes(), 'stale: run `npm run client:types` and commit client/src/api.ts');
});

test('the client type-checks for browsers, without Node\'s types', () => {
  const tsc = join(projectRoot, 'client', 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', join(projectRoot, 'client', 'tsconfig.json'), '--noEmit'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
