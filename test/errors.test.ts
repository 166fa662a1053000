import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
let acme: Desk;
const maxBody = 2048;
const maxUpload = 4096;

before(async () => {
  server = await startTestServer({ MAX_BODY_BYTES: String(maxBody), MAX_UPLOAD_BYTES: String(maxUpload) });
  acme = await createDesk(server.db.sql, 'acme');
});
after(() => server.close());

/** Every refusal is a 4xx with {"error": {"code", "message"}}; returns the code. */
async function refused(res: Response, status: number): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(typeof body.error.code, 'string');
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error.code;
}

const sendJson = (body: string, type = 'application/json') =>
  server.fetch(`/api/send-message/`, { method: 'POST', headers: { 'content-type': type }, body });
const sendForm = (form: FormData) => server.fetch(`/api/send-message/`, { method: 'POST', body: form });
const messageCount = async () => Number((await server.db.sql`SELECT count(*) AS n FROM messages`)[0]!.n);
const mediaFiles = async () => (await readdir(server.mediaDir, { recursive: true })).filter((f) => f !== '.incoming');

describe('reads', () => {
  for (const org of ['bad name', 'x'.repeat(65), "acme'--", '', 'a/b']) {
    test(`listing organization ${JSON.stringify(org.slice(0, 12))} is a 400`, async () => {
      const res = await server.fetch(`/api/help-desks/?organization=${encodeURIComponent(org)}`);
      assert.equal(await refused(res, 400), 'invalid_query');
    });
  }

  test('history of a malformed uuid is a 400', async () => {
    const res = await server.fetch(`/api/help-desks/not-a-uuid/history/`);
    assert.equal(await refused(res, 400), 'invalid_path');
  });

  test('history of an unknown desk is a 404', async () => {
    const res = await server.fetch(`/api/help-desks/00000000-0000-0000-0000-000000000000/history/`);
    assert.equal(await refused(res, 404), 'not_found');
  });

  test('an unknown route is a JSON 404', async () => {
    assert.equal(await refused(await server.fetch(`/api/nope/`), 404), 'not_found');
  });

  test('a wrong method is a JSON 405', async () => {
    assert.equal(await refused(await server.fetch(`/api/send-message/`), 405), 'method_not_allowed');
    const del = await server.fetch(`/api/help-desks/?organization=acme`, { method: 'DELETE' });
    assert.equal(await refused(del, 405), 'method_not_allowed');
  });

  test('routing comes before auth: unknown paths 404 and wrong methods 405, with or without a credential', async () => {
    for (const org of [null, 'acme']) {
      assert.equal(await refused(await server.fetch('/nope', { org }), 404), 'not_found');
      assert.equal(await refused(await server.fetch('/api/nope/', { org }), 404), 'not_found');
      assert.equal(await refused(await server.fetch('/healthz', { org, method: 'POST' }), 405), 'method_not_allowed');
      assert.equal(await refused(await server.fetch('/api/send-message/', { org }), 405), 'method_not_allowed');
      assert.equal(await refused(await server.fetch('/api/help-desks/', { org, method: 'PUT' }), 405), 'method_not_allowed');
    }
    const wrongMethod = await server.fetch('/api/help-desks/', { org: null, method: 'DELETE' });
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
    // A route that exists still wants a credential.
    assert.equal(await refused(await server.fetch('/api/help-desks/', { org: null }), 401), 'unauthorized');
  });

  test('a WebSocket upgrade sent to the REST port is told the WebSocket port', async () => {
    const { request } = await import('node:http');
    const port = Number(new URL(server.rest).port);
    const wsPort = new URL(server.ws).port;
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port, path: '/ws/chat/acme/',
        headers: {
          connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer whatever',
        },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c) => (body += c)).on('end', () => resolve({ status: r.statusCode!, body }));
      });
      req.on('upgrade', () => reject(new Error('the REST port upgraded')));
      req.on('error', reject).end();
    });
    assert.equal(res.status, 400, res.body);
    const error = JSON.parse(res.body).error;
    assert.equal(error.code, 'wrong_port');
    assert.match(error.message, new RegExp(`port ${wsPort} \\(WS_PORT\\)`));
  });

  for (const path of ['/media/../package.json', '/media/%2e%2e/package.json', '/media/.incoming/x', '/media/missing.png', '/media/']) {
    test(`media ${path} is a 404`, async () => {
      await refused(await server.fetch(`${path}`), 404);
    });
  }
});

describe('POST /api/send-message/', () => {
  const cases: Array<[string, string, number, string, string?]> = [
    ['malformed JSON', '{"message": "hi", ', 400, 'invalid_json'],
    ['a JSON string', '"hi"', 400, 'invalid_json'],
    ['a JSON array', '[1, 2]', 400, 'invalid_body'],
    ['no help_desk', '{"message": "hi"}', 400, 'invalid_body', 'help_desk: is required'],
    ['a help_desk that is not a uuid', '{"message": "hi", "help_desk": "42"}', 400, 'invalid_body', 'help_desk'],
    ['a message that is not text', `{"message": 42, "help_desk": "${'00000000-0000-0000-0000-000000000000'}"}`, 400, 'invalid_body', 'message'],
    ['a message with a NUL character', `{"message": "a\\u0000b", "help_desk": "00000000-0000-0000-0000-000000000000"}`, 400, 'invalid_body', 'message'],
    ['a file given as text', `{"message": "hi", "file": "/etc/passwd", "help_desk": "00000000-0000-0000-0000-000000000000"}`, 400, 'invalid_body', 'file'],
  ];
  for (const [name, body, status, code, field] of cases) {
    test(`${name} is a ${status}`, async () => {
      const before = await messageCount();
      const res = await sendJson(body);
      const text = await res.clone().text();
      assert.equal(await refused(res, status), code);
      if (field) assert.match(JSON.parse(text).error.message, new RegExp(field));
      assert.equal(await messageCount(), before);
    });
  }

  test('neither message nor file is a 400', async () => {
    const res = await sendJson(JSON.stringify({ help_desk: acme.deskId, message: '' }));
    assert.equal(await refused(res, 400), 'invalid_body');
  });

  test('an unknown desk is a 404 and stores nothing, not even the file', async () => {
    const before = await messageCount();
    const form = new FormData();
    form.append('help_desk', '00000000-0000-0000-0000-000000000000');
    form.append('file', new Blob(['abc'], { type: 'text/plain' }), 'a.txt');
    assert.equal(await refused(await sendForm(form), 404), 'not_found');
    assert.equal(await messageCount(), before);
    assert.deepEqual(await mediaFiles(), []);
    assert.deepEqual(await readdir(`${server.mediaDir}/.incoming`), []);
  });

  test('a JSON body over MAX_BODY_BYTES is a 413', async () => {
    const res = await sendJson(JSON.stringify({ help_desk: acme.deskId, message: 'x'.repeat(maxBody) }));
    assert.equal(await refused(res, 413), 'too_large');
  });

  test('a file over MAX_UPLOAD_BYTES is a 413 and leaves nothing on disk', async () => {
    const before = await messageCount();
    const form = new FormData();
    form.append('help_desk', acme.deskId);
    form.append('file', new Blob([new Uint8Array(maxUpload + 1)]), 'big.bin');
    assert.equal(await refused(await sendForm(form), 413), 'too_large');
    assert.equal(await messageCount(), before);
    assert.deepEqual(await mediaFiles(), []);
    assert.deepEqual(await readdir(`${server.mediaDir}/.incoming`), []);
  });

  test('two files are refused', async () => {
    const form = new FormData();
    form.append('help_desk', acme.deskId);
    form.append('file', new Blob(['a']), 'a.txt');
    form.append('file', new Blob(['b']), 'b.txt');
    assert.equal(await refused(await sendForm(form), 413), 'too_large');
    assert.deepEqual(await mediaFiles(), []);
  });

  test('a file under another field name is a 400', async () => {
    const form = new FormData();
    form.append('help_desk', acme.deskId);
    form.append('attachment', new Blob(['a']), 'a.txt');
    assert.equal(await refused(await sendForm(form), 400), 'invalid_body');
    assert.deepEqual(await mediaFiles(), []);
  });

  test('a truncated multipart body is a 400', async () => {
    const res = await sendJson('--zz\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi', 'multipart/form-data; boundary=zz');
    assert.equal(res.status, 400);
    await refused(res, 400);
  });

  for (const type of ['text/html', 'application/x-msdownload', 'image/svg+xml', '']) {
    test(`an upload declared ${JSON.stringify(type)} is a 415 (not in UPLOAD_TYPES) and leaves nothing`, async () => {
      const form = new FormData();
      form.append('help_desk', acme.deskId);
      form.append('file', new Blob(['<script>alert(1)</script>'], { type }), 'page.html');
      assert.equal(await refused(await sendForm(form), 415), 'unsupported_media_type');
      assert.deepEqual(await mediaFiles(), []);
    });
  }

  test('an empty body is a 400 about the body, whatever its declared type', async () => {
    for (const type of ['application/json', 'application/x-www-form-urlencoded', undefined]) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const res = await server.fetch(`/api/send-message/`, { method: 'POST', headers });
      assert.equal(await refused(res, 400), 'invalid_body', `declared ${type}`);
    }
  });

  test('a body of another type is a 415', async () => {
    const res = await sendJson('message=hi', 'text/plain');
    assert.equal(await refused(res, 415), 'unsupported_media_type');
  });

  test('after every refusal, what was accepted is still there', async () => {
    const ok = await sendJson(JSON.stringify({ help_desk: acme.deskId, message: 'kept' }));
    assert.equal(ok.status, 201);
    const { uuid } = await ok.json();
    await sendJson('{broken');
    const history = await (await server.fetch(`/api/help-desks/${acme.deskId}/history/`)).json();
    assert.equal(history[0].uuid, uuid);
  });
});
