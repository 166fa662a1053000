// Channels (CONTRACT §10): outgoing messages delivered by graphile-worker jobs to a
// real local HTTP provider, signed; retries with its backoff; a worker killed
// mid-delivery; signed inbound webhooks; the echo channel on a socket.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setChannel } from '../src/channels/admin.ts';
import { projectRoot } from '../src/config.ts';
import { jobs } from '../src/domain.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type Answer, type Provider, startProvider } from './helpers/provider.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { freePort, waitFor } from './helpers/wait.ts';

let server: TestServer;
let provider: Provider;
let desk: Desk;
let secret: string;
const maxAttempts = 4;

before(async () => {
  // 3 s: the provider answers from this test's own process, whose event loop the full
  // suite's load can hold up for over a second (a 1 s limit then failed answered requests).
  server = await startTestServer({ WORKER: 'on', DELIVERY_MAX_ATTEMPTS: String(maxAttempts), DELIVERY_TIMEOUT: '3s', INBOUND_RATE_LIMIT: '1000' });
  provider = await startProvider();
  desk = await createDesk(server.db.sql, 'acme', { name: 'Ana', phone: '+55 11 90000-0001' });
  await createDesk(server.db.sql, 'globex');
  ({ secret } = await setChannel(server.db.sql, 'acme', provider.url));
});
after(async () => {
  await server.close();
  await provider.close();
});

/** An outgoing message written as any service writes one: plain SQL. Its uuid is chosen first, to script the provider. */
async function send(text: string, answers: Answer[] = [], d: Desk = desk, sql = server.db.sql): Promise<string> {
  const id = randomUUID();
  provider.script(id, answers);
  await sql`INSERT INTO messages (id, help_desk_id, message) VALUES (${id}, ${d.deskId}, ${text})`;
  return id;
}

async function statusOf(id: string, sql = server.db.sql): Promise<string> {
  const [m] = await sql`SELECT status FROM messages WHERE id = ${id}`;
  return m!.status;
}

async function settled(id: string, status: string, ms = 10_000, sql = server.db.sql): Promise<void> {
  await waitFor(async () => (await statusOf(id, sql)) === status, ms, `message ${id} to be ${status}`);
}

interface Job {
  id: string;
  attempts: number;
  locked_at: Date | null;
  wait: number;
  last_error: string | null;
}
async function jobOf(id: string): Promise<Job | undefined> {
  const [j] = await server.db.sql<Job[]>`
    SELECT j.id, j.attempts, j.locked_at, extract(epoch FROM j.run_at - now())::float AS wait, j.last_error
    FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
    WHERE t.identifier = ${jobs.deliver} AND j.payload::jsonb @> ${JSON.stringify([{ message: id }])}::text::jsonb
    ORDER BY j.id LIMIT 1`;
  return j;
}

/**
 * Waits until the message's job has failed `attempts` times and waits out its
 * backoff; checks that backoff is graphile-worker's (e^attempts seconds); then
 * brings the retry forward, so the test does not sit through it.
 */
async function hurry(id: string, attempts: number): Promise<Job> {
  let job: Job | undefined;
  await waitFor(async () => (job = await jobOf(id))?.attempts === attempts && job?.locked_at === null, 10_000, `attempt ${attempts} of ${id} to fail`);
  assert.ok(Math.abs(job!.wait - Math.exp(attempts)) < 1.5, `backoff after attempt ${attempts}: ${job!.wait} s, expected about ${Math.exp(attempts).toFixed(1)} s`);
  await server.db.sql`SELECT graphile_worker.reschedule_jobs(ARRAY[${job!.id}::bigint], run_at := now())`;
  return job!;
}

const hmac = (key: string, timestamp: number | string, body: string) => createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex');

describe('outbound delivery', () => {
  test('a message written with SQL is POSTed once, signed, with the message and its desk; then it is sent', async () => {
    const socket = await server.socket('acme');
    const id = await send('hello from psql');
    await settled(id, 'sent');
    const [r, ...more] = provider.of(id);
    assert.equal(more.length, 0, 'one request');
    const timestamp = r!.headers['deskwire-timestamp'] as string;
    assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 10, 'a current unix timestamp');
    assert.equal(r!.headers['deskwire-signature'], `v1=${hmac(secret, timestamp, r!.body)}`, 'HMAC-SHA256 of "<timestamp>.<body>" with the secret');
    assert.equal(r!.headers['idempotency-key'], id);
    assert.equal(r!.headers['content-type'], 'application/json');
    const body = JSON.parse(r!.body);
    assert.equal(body.event, 'message.outbound');
    assert.equal(body.message.uuid, id);
    assert.equal(body.message.message, 'hello from psql');
    assert.equal(body.message.status, 'sending');
    assert.equal(body.help_desk.uuid, desk.deskId);
    assert.equal(body.help_desk.client.phone, '+55 11 90000-0001');
    const frame = await socket.next((f) => f.type === 'update_message' && JSON.parse(f.data).uuid === id);
    assert.equal(JSON.parse(frame.data).status, 'sent', 'the status change is an update_message event');
    await socket.close();
    await waitFor(async () => (await jobOf(id)) === undefined, 5000, 'the job to be done (after the status moved)');
  });

  test('a message sent over REST is delivered too; a received one, or one of an organization without a channel, is not', async () => {
    const res = await server.fetch('/api/send-message/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ help_desk: desk.deskId, message: 'from REST' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { uuid } = (await res.json()) as { uuid: string };
    await settled(uuid, 'sent');
    const [received] = await server.db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${desk.deskId}, 'from the client', 'received') RETURNING id`;
    const globex = (await server.db.sql`SELECT id AS "deskId" FROM help_desks WHERE organization = 'globex'`)[0] as Desk;
    const [other] = await server.db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${globex.deskId}, 'no channel') RETURNING id`;
    const marker = await send('marker');
    await settled(marker, 'sent');
    assert.equal(provider.of(received!.id).length + provider.of(other!.id).length, 0);
    assert.equal(await statusOf(other!.id), 'sending', 'without a channel it stays sending');
  });

  test('500, 503, 500, then 200: four attempts with graphile-worker\'s backoff, sent once', async () => {
    const socket = await server.socket('acme');
    const id = await send('flaky provider', [500, 503, 500]);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const job = await hurry(id, attempt);
      assert.match(job.last_error ?? '', new RegExp(`delivery attempt ${attempt} of ${maxAttempts}: 50[03]`));
      assert.equal(await statusOf(id), 'sending', 'still sending while it retries');
    }
    await settled(id, 'sent');
    assert.equal(provider.of(id).length, 4);
    assert.equal(new Set(provider.of(id).map((r) => r.headers['idempotency-key'])).size, 1, 'the same idempotency key each time');
    await socket.quiet(300);
    const statuses = socket.frames.filter((f) => f.type === 'update_message' && JSON.parse(f.data).uuid === id).map((f) => JSON.parse(f.data).status);
    assert.deepEqual(statuses, ['sent'], 'one status change, to sent');
    await socket.close();
  });

  test('400: failed at once, no retry', async () => {
    const id = await send('refused', [400]);
    await settled(id, 'failed');
    await new Promise((r) => setTimeout(r, 1500)); // a poll of the worker: nothing more comes
    assert.equal(provider.of(id).length, 1);
    assert.equal(await jobOf(id), undefined);
  });

  test('408 and 429 are retried; a provider that never answers times out and is retried', async () => {
    const id = await send('slow provider', [408, 429, 'hang']);
    await hurry(id, 1);
    await hurry(id, 2);
    const job = await hurry(id, 3);
    assert.match(job.last_error ?? '', /no answer within 3000 ms/);
    await settled(id, 'sent');
    assert.equal(provider.of(id).length, 4);
  });

  test(`DELIVERY_MAX_ATTEMPTS (${maxAttempts}) failures: failed, and the job is gone`, async () => {
    const id = await send('always down', Array(maxAttempts).fill(500));
    for (let attempt = 1; attempt < maxAttempts; attempt++) await hurry(id, attempt);
    await settled(id, 'failed');
    assert.equal(provider.of(id).length, maxAttempts);
    await waitFor(async () => (await jobOf(id)) === undefined, 5000, 'the job to be done');
  });

  test('a refused connection is retried', async () => {
    await setChannel(server.db.sql, 'acme', `http://127.0.0.1:${await freePort()}/nothing-listens`);
    try {
      const id = await send('nobody home');
      const job = await hurry(id, 1);
      assert.match(job.last_error ?? '', /ECONNREFUSED/);
    } finally {
      ({ secret } = await setChannel(server.db.sql, 'acme', provider.url));
    }
  });

  test('a message edited while its retry waits is delivered once, by the job that tried it, with its backoff kept', async () => {
    const id = await send('edited', [500]);
    let job: Job | undefined;
    await waitFor(async () => (job = await jobOf(id))?.attempts === 1 && job?.locked_at === null, 10_000, 'the first attempt to fail');
    await server.db.sql`SELECT graphile_worker.reschedule_jobs(ARRAY[${job!.id}::bigint], run_at := now() + interval '1 hour')`;
    // The edit and a marker commit together: the sequencer puts both in one new job.
    const marker = randomUUID();
    await server.db.sql.begin(async (tx) => {
      await tx`UPDATE messages SET message = 'edited again' WHERE id = ${id}`;
      await tx`INSERT INTO messages (id, help_desk_id, message) VALUES (${marker}, ${desk.deskId}, 'marker 2')`;
    });
    await settled(marker, 'sent');
    await waitFor(async () => (await jobOf(marker)) === undefined, 5000, 'the second job to finish');
    assert.equal(provider.of(id).length, 1, 'the second job left it to the first');
    assert.equal(await statusOf(id), 'sending');
    const [claim] = await server.db.sql`SELECT job_id FROM delivery_claims WHERE message_id = ${id}`;
    assert.equal(String(claim!.job_id), String(job!.id), 'still the first job\'s');
    assert.equal((await jobOf(id))!.attempts, 1, 'its retry state is kept');
    await server.db.sql`SELECT graphile_worker.reschedule_jobs(ARRAY[${job!.id}::bigint], run_at := now())`;
    await settled(id, 'sent');
    assert.equal(provider.of(id).length, 2);
    assert.equal(JSON.parse(provider.of(id)[1]!.body).message.message, 'edited again', 'what it says now');
    await waitFor(async () => (await server.db.sql`SELECT 1 FROM delivery_claims WHERE message_id = ${id}`).length === 0, 5000, 'the claim to be released');
  });

  test('forty messages in one transaction: each POSTed once; the one refused with 503 is retried alone', async () => {
    const ids = Array.from({ length: 40 }, () => randomUUID());
    const failing = ids[17]!;
    provider.script(failing, [503]);
    await server.db.sql`
      INSERT INTO messages (id, help_desk_id, message)
      SELECT id::uuid, ${desk.deskId}, 'bulk ' || n FROM unnest(${ids}::text[]) WITH ORDINALITY AS x(id, n)`;
    const job = await hurry(failing, 1);
    const [{ payload }] = await server.db.sql`SELECT payload FROM graphile_worker._private_jobs WHERE id = ${job.id}`;
    assert.deepEqual(payload, [{ message: failing }], 'the retry carries the failed message only');
    await settled(failing, 'sent');
    for (const id of ids) {
      assert.equal(await statusOf(id), 'sent', id);
      assert.equal(provider.of(id).length, id === failing ? 2 : 1, id);
    }
  });

  test('a job queued before batches (one message, keyed by it) still delivers, and with a batch job for the same message it is POSTed once', async () => {
    const id = randomUUID();
    await server.db.sql.begin(async (tx) => {
      await tx`INSERT INTO messages (id, help_desk_id, message) VALUES (${id}, ${desk.deskId}, 'queued before an upgrade')`;
      await tx`SELECT graphile_worker.add_job('deskwire.deliver', json_build_object('message', ${id}::uuid), job_key := 'deskwire.deliver:' || ${id})`;
    });
    await settled(id, 'sent');
    const left = () => server.db.sql`SELECT 1 FROM graphile_worker._private_jobs WHERE payload::text LIKE ${'%' + id + '%'}`;
    await waitFor(async () => (await left()).length === 0, 15_000, 'both jobs to be done');
    assert.equal(provider.of(id).length, 1);
  });

  test('a channel URL that is not http(s) is refused when set, and by the table', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/x', 'javascript:alert(1)', 'http://user:pw@example.com/']) {
      await assert.rejects(setChannel(server.db.sql, 'acme', url), /http\(s\) URL/, url);
    }
    await assert.rejects(server.db.sql`UPDATE channels SET url = 'gopher://x' WHERE organization = 'acme'`, /channels_url_check/);
  });
});

describe('inbound webhooks', () => {
  const post = (org: string, body: unknown, opts: { timestamp?: number; key?: string; headers?: Record<string, string>; raw?: string } = {}) => {
    const text = opts.raw ?? JSON.stringify(body);
    const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
    return fetch(`${server.rest}/api/channels/${org}/inbound/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'deskwire-timestamp': String(timestamp),
        'deskwire-signature': `v1=${hmac(opts.key ?? secret, timestamp, text)}`,
        ...opts.headers,
      },
      body: text,
    });
  };
  const inbound = (external: string, text: string, phone = '+55 21 98888-0000') => ({
    event: 'message.inbound',
    external_id: external,
    client: { phone, name: 'Bruna' },
    message: text,
  });
  const count = async () => (await server.db.sql`SELECT count(*)::int AS n FROM messages`)[0]!.n as number;

  test('message.inbound makes the client and a desk, stores a received message, and arrives on a socket', async () => {
    const socket = await server.socket('acme');
    const res = await post('acme', inbound('wamid.1', 'Oi, tudo bem?'));
    assert.equal(res.status, 200, await res.clone().text());
    const { message, created } = (await res.json()) as { message: string; created: boolean };
    assert.equal(created, true);
    const [m] = await server.db.sql`
      SELECT m.type, m.message, c.name, c.phone, h.organization FROM messages m
      JOIN help_desks h ON h.id = m.help_desk_id JOIN clients c ON c.id = h.client_id WHERE m.id = ${message}`;
    assert.deepEqual({ ...m }, { type: 'received', message: 'Oi, tudo bem?', name: 'Bruna', phone: '+55 21 98888-0000', organization: 'acme' });
    await socket.next((f) => f.type === 'new_message' && JSON.parse(f.data).uuid === message);
    await socket.close();

    const again = await post('acme', inbound('wamid.2', 'second message'));
    const second = (await again.json()) as { message: string };
    const [a, b] = await server.db.sql`SELECT help_desk_id FROM messages WHERE id IN (${message}, ${second.message})`;
    assert.equal(a!.help_desk_id, b!.help_desk_id, 'the same client and desk');
    assert.equal(provider.of(message).length, 0, 'a received message is not delivered');
  });

  test('the same external_id twice, or five times at once, stores one message (200 each time)', async () => {
    const first = await post('acme', inbound('wamid.dup', 'once'));
    const { message } = (await first.json()) as { message: string };
    const before = await count();
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => post('acme', inbound('wamid.dup', 'once'))));
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.deepEqual(await a.json(), { message, created: false });
    }
    const racing = await Promise.all([1, 2, 3, 4, 5].map(() => post('acme', inbound('wamid.race', 'racing', '+55 31 97777-0000'))));
    const bodies = await Promise.all(racing.map(async (r) => ({ status: r.status, body: (await r.json()) as { message: string } })));
    assert.deepEqual(bodies.map((b) => b.status), [200, 200, 200, 200, 200], JSON.stringify(bodies));
    const ids = new Set(bodies.map((b) => b.body.message));
    assert.equal(ids.size, 1, 'concurrent deliveries of one external_id agree on one message');
    assert.equal(await count(), before + 1);
    const [{ clients }] = await server.db.sql`SELECT count(*)::int AS clients FROM clients WHERE phone = '+55 31 97777-0000'`;
    assert.equal(clients, 1, 'and on one client');
  });

  for (const [name, make, status, code] of [
    ['a timestamp 301 s old', () => post('acme', inbound('x1', 'stale'), { timestamp: Math.floor(Date.now() / 1000) - 301 }), 401, 'stale_timestamp'],
    // 303: the server reads its clock a moment later, maybe a second or two on (301 was once 300 by then).
    ['a timestamp 303 s ahead', () => post('acme', inbound('x2', 'future'), { timestamp: Math.floor(Date.now() / 1000) + 303 }), 401, 'stale_timestamp'],
    ['a signature made with another key', () => post('acme', inbound('x3', 'forged'), { key: 'not-the-secret-not-the-secret-0000' }), 401, 'invalid_signature'],
    ['a body changed after signing', () => post('acme', inbound('x4', 'x'), { headers: { 'deskwire-signature': `v1=${hmac(secret, Math.floor(Date.now() / 1000), '{}')}` } }), 401, 'invalid_signature'],
    ['no signature', () => post('acme', inbound('x5', 'x'), { headers: { 'deskwire-signature': '' } }), 401, 'invalid_signature'],
    ['an organization without a channel', () => post('globex', inbound('x6', 'x')), 404, 'not_found'],
    ['an unknown organization', () => post('nowhere', inbound('x7', 'x')), 404, 'not_found'],
    ['a signed body that is not JSON', () => post('acme', null, { raw: 'not json' }), 400, 'invalid_json'],
    ['a signed body with an unknown event', () => post('acme', { event: 'message.deleted' }), 400, 'invalid_body'],
    ['message.inbound without a phone', () => post('acme', { event: 'message.inbound', external_id: 'x8', client: {}, message: 'x' }), 400, 'invalid_body'],
    ['message.status with a bad status', () => post('acme', { event: 'message.status', message: randomUUID(), status: 'sending' }), 400, 'invalid_body'],
    ['a body over 64 KiB', () => post('acme', inbound('x9', 'x'.repeat(70_000))), 413, 'too_large'],
  ] as const) {
    test(`${name}: ${status} ${code}, nothing stored`, async () => {
      const before = await count();
      const res = await make();
      assert.equal(res.status, status, await res.clone().text());
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
      assert.equal(await count(), before);
    });
  }

  test('message.status moves forward only; a message it does not know is a 404', async () => {
    const id = await send('status reports');
    await settled(id, 'sent');
    const report = async (status: string) => {
      const res = await post('acme', { event: 'message.status', message: id, status });
      assert.equal(res.status, 200);
      return ((await res.json()) as { moved: boolean }).moved;
    };
    assert.equal(await report('read'), true);
    assert.equal(await report('delivered'), false, 'read never goes back to delivered');
    assert.equal(await report('failed'), false, 'a message read did not fail');
    assert.equal(await statusOf(id), 'read');
    const unknown = await post('acme', { event: 'message.status', message: randomUUID(), status: 'read' });
    assert.equal(unknown.status, 404);
    const globexMessage = (await server.db.sql`SELECT m.id FROM messages m JOIN help_desks h ON h.id = m.help_desk_id WHERE h.organization = 'globex' LIMIT 1`)[0]!.id;
    const foreign = await post('acme', { event: 'message.status', message: globexMessage, status: 'read' });
    assert.equal(foreign.status, 404, 'another organization\'s message is unknown here');
  });

  test('no agent credential is needed, and the inbound rate limit is per organization', async () => {
    const limited = await startTestServer({ INBOUND_RATE_LIMIT: '3' });
    try {
      await createDesk(limited.db.sql, 'acme');
      const { secret: key } = await setChannel(limited.db.sql, 'acme', provider.url);
      // At once: a limit per second, whatever the machine's speed.
      const answers = await Promise.all(
        [0, 1, 2, 3, 4].map((i) => {
          const text = JSON.stringify(inbound(`burst-${i}`, 'burst'));
          const t = Math.floor(Date.now() / 1000);
          return fetch(`${limited.rest}/api/channels/acme/inbound/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'deskwire-timestamp': String(t), 'deskwire-signature': `v1=${hmac(key, t, text)}` },
            body: text,
          });
        }),
      );
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 200, 200, 429, 429]);
      for (const r of answers) if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
    } finally {
      await limited.close();
    }
  });
});

describe('the echo channel', () => {
  test('a message sent goes sent, delivered and read on the socket, and the client answers "echo: <text>"', async () => {
    const umbrella = await createDesk(server.db.sql, 'umbrella');
    await setChannel(server.db.sql, 'umbrella', 'echo');
    const socket = await server.socket('umbrella');
    const started = Date.now();
    const res = await server.fetch('/api/send-message/', {
      org: 'umbrella',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ help_desk: umbrella.deskId, message: 'ping' }),
    });
    const { uuid } = (await res.json()) as { uuid: string };
    const reply = await socket.next((f) => f.type === 'new_message' && JSON.parse(f.data).type === 'received', 10_000);
    assert.equal(JSON.parse(reply.data).message, 'echo: ping');
    assert.ok(Date.now() - started >= 900, 'delivered after ~0.5 s, read after ~1 s');
    const statuses = socket.frames.filter((f) => f.type === 'update_message' && JSON.parse(f.data).uuid === uuid).map((f) => JSON.parse(f.data).status);
    assert.deepEqual(statuses, ['sent', 'delivered', 'read']);
    await socket.close();
  });
});

describe('a worker killed in the middle of a delivery', () => {
  test('kill -9 while the provider holds the request: another worker delivers it, once', async () => {
    const alone = await startTestServer({ WORKER: 'off' });
    const workers: ChildProcess[] = [];
    const startWorker = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'worker.ts')], {
        cwd: projectRoot,
        env: { ...process.env, DATABASE_URL: alone.db.url, LOG_LEVEL: 'info', WORKER_CONCURRENCY: '2', DELIVERY_TIMEOUT: '60s' },
      });
      workers.push(child);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      await waitFor(() => out.includes('deskwire worker is up'), 20_000, 'the worker to start');
      return { child, output: () => out };
    };
    try {
      const d = await createDesk(alone.db.sql, 'acme');
      await setChannel(alone.db.sql, 'acme', provider.url);
      const first = await startWorker();
      const id = await send('in flight', ['hang'], d, alone.db.sql);
      await waitFor(() => provider.of(id).length === 1, 10_000, 'the first worker to POST');
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      const second = await startWorker();
      await settled(id, 'sent', 20_000, alone.db.sql);
      assert.equal(provider.of(id).length, 2, 'the request in flight, then one retry');
      assert.equal(provider.of(id)[1]!.headers['idempotency-key'], id);
      assert.match(second.output(), /freed the jobs of workers that are gone/);
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await alone.close();
    }
  });
});
