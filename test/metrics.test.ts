// GET /metrics (CONTRACT §12) on its own port: the names are there, and they move
// with traffic; HTTP durations are labelled by route template, not by raw path.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { connect } from './helpers/socket.ts';
import { waitFor } from './helpers/wait.ts';

const secret = 'metrics-test-secret-long-enough-0123456789abcdef';
let db: TestDatabase;
let server: ServerProcess;
let desk: Desk;

before(async () => {
  db = await createTestDatabase();
  desk = await createDesk(db.sql, 'acme');
  server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret });
});
after(async () => {
  server?.child.kill('SIGKILL');
  await db?.drop();
});

async function scrape(): Promise<string> {
  const res = await fetch(server.metrics);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return res.text();
}
/** The value of a sample, by its name and labels as written. */
const value = (text: string, sample: string) => Number(new RegExp(`^${sample.replace(/[{}()|[\]\\.+*?^$"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test('GET /metrics: the names of CONTRACT §12 and the process metrics, on METRICS_PORT only', async () => {
  const text = await scrape();
  for (const name of ['deskwire_sockets_open', 'deskwire_frames_sent_total', 'deskwire_commit_to_publish_seconds', 'deskwire_sequencer_lag_seconds', 'deskwire_sequencer_window_events', 'deskwire_listen_reconnects_total', 'deskwire_slow_consumer_closes_total', 'deskwire_http_request_duration_seconds', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.equal((await fetch(server.metrics.replace('/metrics', '/other'))).status, 404);
  assert.equal((await fetch(`${server.rest}/metrics`)).status, 404, 'not on the API\'s port');
});

test('the numbers move: a socket open, frames sent, requests by route template', async () => {
  const before = await scrape();
  const token = await mintToken(secret, { org: 'acme', sub: 'agent', ttlSeconds: 600 });
  const socket = await connect(`${server.ws}/ws/chat/acme/?token=${token}`);
  await db.sql`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, 'counted')`;
  await socket.next((f) => f.type === 'new_message');
  const res = await fetch(`${server.rest}/api/help-desks/${desk.deskId}/history/`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  await fetch(`${server.rest}/api/help-desks/00000000-0000-4000-8000-000000000000/history/`, { headers: { authorization: `Bearer ${token}` } });
  let after = '';
  await waitFor(async () => value((after = await scrape()), 'deskwire_sockets_open') === 1, 5000, 'one socket open');
  assert.ok(value(after, 'deskwire_frames_sent_total') >= value(before, 'deskwire_frames_sent_total') + 2, 'the message and its desk event, to one socket');
  const route = '/api/help-desks/:uuid/history'; // the router's template, trailing slash or not
  assert.equal(value(after, `deskwire_http_request_duration_seconds_count{method="GET",route="${route}",status="200"}`), 1);
  assert.equal(value(after, `deskwire_http_request_duration_seconds_count{method="GET",route="${route}",status="404"}`), 1);
  assert.ok(!after.includes(desk.deskId), 'no raw path, no id in a label');
  // Files served outside the router are labelled by their template too.
  const page = await (await fetch(`${server.rest}/`)).text();
  const asset = /\/assets\/[^"]+/.exec(page)![0];
  assert.equal((await fetch(`${server.rest}${asset}`)).status, 200);
  await fetch(`${server.rest}/nowhere/${desk.deskId}`);
  const files = await scrape();
  assert.equal(value(files, 'deskwire_http_request_duration_seconds_count{method="GET",route="/",status="200"}'), 1, 'the console page');
  assert.equal(value(files, 'deskwire_http_request_duration_seconds_count{method="GET",route="/assets/{file}",status="200"}'), 1, 'its asset, by template');
  const unmatched = 'deskwire_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}';
  assert.equal(value(files, unmatched) - (value(after, unmatched) || 0), 1, 'an unknown path');
  assert.ok(!files.includes(asset) && !files.includes('nowhere'), 'no raw path in a label');
  await socket.close();
  await waitFor(async () => value(await scrape(), 'deskwire_sockets_open') === 0, 5000, 'the socket closed');
});

test('commit to publish: each event of a window observed once, from its commit; window sizes', async () => {
  const before = await scrape();
  // One transaction of 5 messages: one window of 6 events (5 new_message, and the desk's update after the last).
  await db.sql.begin(async (tx) => {
    for (let i = 0; i < 5; i++) await tx`INSERT INTO messages (help_desk_id, message) VALUES (${desk.deskId}, ${'window ' + i})`;
  });
  let after = '';
  const count = (t: string) => value(t, 'deskwire_commit_to_publish_seconds_count');
  await waitFor(async () => count((after = await scrape())) >= count(before) + 6, 5000, 'six events observed');
  assert.equal(count(after) - count(before), 6, 'one observation per event');
  const seconds = (value(after, 'deskwire_commit_to_publish_seconds_sum') - value(before, 'deskwire_commit_to_publish_seconds_sum')) / 6;
  assert.ok(seconds > 0 && seconds < 1, `milliseconds from commit to publish, not the clock's epoch (${seconds} s)`);
  assert.equal(value(after, 'deskwire_sequencer_window_events_count') - value(before, 'deskwire_sequencer_window_events_count'), 1, 'one window');
  assert.equal(value(after, 'deskwire_sequencer_window_events_sum') - value(before, 'deskwire_sequencer_window_events_sum'), 6);
  assert.equal(value(after, 'deskwire_sequencer_lag_seconds'), 0, 'nothing waits for the sequencer');
});

test('sequencer lag: the age of the oldest change no sequencer has numbered', async () => {
  // Another database with no deskwire on it: nothing numbers what is written there.
  const idle = await createTestDatabase();
  try {
    const other = await createDesk(idle.sql, 'acme');
    const [{ lag: none }] = (await idle.sql`SELECT deskwire.sequencer_lag() AS lag`) as any;
    assert.equal(none, 0);
    await idle.sql`INSERT INTO messages (help_desk_id, message) VALUES (${other.deskId}, 'waiting')`;
    await new Promise((r) => setTimeout(r, 300)); // the age to measure
    const [{ lag }] = (await idle.sql`SELECT deskwire.sequencer_lag() AS lag`) as any;
    assert.ok(lag >= 0.3 && lag < 5, `lag ${lag} s`);
  } finally {
    await idle.drop();
  }
});
