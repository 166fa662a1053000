// docs/errors.md is the catalogue clients read: it must name every error code and
// close code the server can produce, with the status it comes with.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../src/config.ts';
import { errorCodes } from '../src/errors.ts';
import { closeCodes } from '../src/gateway/sockets.ts';

const doc = await readFile(join(projectRoot, 'docs', 'errors.md'), 'utf8');
/** The table rows of the doc, as cells. */
const rows = doc.split('\n').filter((l) => l.startsWith('|')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));

test('every error code is in docs/errors.md, with its status', () => {
  for (const [code, status] of Object.entries(errorCodes)) {
    const row = rows.find((r) => r[1] === `\`${code}\``);
    assert.ok(row, `docs/errors.md has no row for \`${code}\``);
    assert.equal(row[0], String(status), `\`${code}\` is documented with status ${row[0]}, not ${status}`);
  }
});

test('every WebSocket close code the server sends is in docs/errors.md', () => {
  // 1001 at shutdown, 1011 when a replay fails; the others are named in the gateway.
  for (const code of [1001, 1011, ...Object.values(closeCodes)]) {
    assert.ok(rows.some((r) => r[0] === String(code)), `docs/errors.md has no row for close code ${code}`);
  }
});
