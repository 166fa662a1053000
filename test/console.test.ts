// The agent console (console/) in a real headless Chromium against a real deskwire
// process: sign in, desks, a message seen live on a second page, an image upload,
// a server restart under an open page, and another organization's token.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { mintToken } from '../src/auth/tokens.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createDesk, type Desk } from './helpers/fixtures.ts';
import { type ServerProcess, startServerProcess } from './helpers/process.ts';
import { freePort } from './helpers/wait.ts';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const secret = 'console-test-secret-long-enough-0123456789abcdef';
let db: TestDatabase;
let server: ServerProcess;
let env: Record<string, string>;
let browser: Browser;
let ana: Desk;
let globex: Desk;

before(async () => {
  assert.ok(existsSync(executablePath), `no Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  db = await createTestDatabase();
  ana = await createDesk(db.sql, 'acme', { name: 'Ana', phone: '+55 11 90000-0003' });
  await createDesk(db.sql, 'acme', { name: 'Bruno', phone: '+55 11 90000-0004' });
  await db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${ana.deskId}, 'Oi, tudo bem?', 'received')`;
  globex = await createDesk(db.sql, 'globex', { name: 'Globex client', phone: '+1 555 0100' });
  env = { DATABASE_URL: db.url, JWT_SECRET: secret, PORT: String(await freePort()), WS_PORT: String(await freePort()) };
  server = await startServerProcess(env);
  browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  server?.child.kill('SIGKILL');
  await db?.drop();
});

/** A fresh page (its own storage), signed in with a token of `org`. */
async function signedIn(org: string, sub = 'agent'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(server.rest + '/');
  await page.fill('textarea[name=token]', await mintToken(secret, { org, sub, ttlSeconds: 3600 }));
  await page.click('button[type=submit]');
  await page.waitForSelector('.desks');
  return page;
}
const desk = (page: Page, d: Desk) => page.locator(`[data-desk="${d.deskId}"]`);

describe('the console', () => {
  test('signs in, lists the desks by last activity with the last message, unread marked', async () => {
    const page = await signedIn('acme');
    await desk(page, ana).waitFor();
    const names = await page.locator('.desk .name').allTextContents();
    assert.deepEqual(names, ['Ana', 'Bruno'], 'the desk with the latest message first');
    assert.match(await desk(page, ana).textContent() ?? '', /Oi, tudo bem\?/);
    assert.equal(await desk(page, ana).locator('.dot').count(), 1, 'unread');
    await desk(page, ana).click();
    await page.locator('.bubble.received', { hasText: 'Oi, tudo bem?' }).waitFor();
    assert.equal(await desk(page, ana).locator('.dot').count(), 0, 'read once opened');
    await page.context().close();
  });

  test('a message sent on one page arrives live on another, and its status ticks on', async () => {
    const [one, two] = [await signedIn('acme', 'alice'), await signedIn('acme', 'bob')];
    for (const p of [one, two]) await desk(p, ana).click();
    await one.fill('textarea[name=message]', 'Olá Ana, posso ajudar?');
    await one.keyboard.press('Enter');
    const mine = one.locator('.bubble.sent', { hasText: 'Olá Ana, posso ajudar?' });
    await mine.waitFor();
    await two.locator('.bubble.sent', { hasText: 'Olá Ana, posso ajudar?' }).waitFor();
    assert.equal(await mine.locator('.tick').getAttribute('data-status'), 'sending');
    const [m] = await db.sql`SELECT id FROM messages WHERE message = 'Olá Ana, posso ajudar?'`;
    await db.sql`UPDATE messages SET status = 'read' WHERE id = ${m!.id}`; // as a provider's report would
    await two.locator(`[data-message="${m!.id}"] .tick[data-status=read]`).waitFor();
    await one.locator(`[data-message="${m!.id}"] .tick[data-status=read]`).waitFor();
    await one.context().close();
    await two.context().close();
  });

  test('an image uploaded shows in the conversation, loaded from /media with the token', async () => {
    const page = await signedIn('acme');
    await desk(page, ana).click();
    // A 1×1 PNG.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
    await page.setInputFiles('input[type=file]', { name: 'dot.png', mimeType: 'image/png', buffer: png });
    await page.fill('textarea[name=message]', 'a picture');
    await page.click('.composer button[type=submit]');
    const img = page.locator('.bubble.sent', { hasText: 'a picture' }).locator('img');
    await img.waitFor();
    await page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth === 1, await img.elementHandle());
    assert.match((await img.getAttribute('src')) ?? '', /^\/media\/[0-9a-f-]+\.png\?token=/);
    await page.context().close();
  });

  test('the server restarts under an open page: the messages written meanwhile appear, with no reload', { timeout: 90_000 }, async () => {
    const page = await signedIn('acme');
    await desk(page, ana).click();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    server.child.kill('SIGKILL');
    await server.exited();
    await page.locator('.banner', { hasText: 'Reconnecting' }).waitFor();
    await db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${ana.deskId}, 'written while it was down', 'received')`;
    server = await startServerProcess(env);
    await page.locator('.bubble', { hasText: 'written while it was down' }).waitFor({ timeout: 30_000 });
    await page.locator('.banner').waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the same page: no reload');
    await page.context().close();
  });

  test('a token of another organization sees none of it', async () => {
    const page = await signedIn('globex');
    await desk(page, globex).waitFor();
    assert.deepEqual(await page.locator('.desk .name').allTextContents(), ['Globex client']);
    await db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${ana.deskId}, 'acme only', 'received')`;
    await db.sql`INSERT INTO messages (help_desk_id, message, type) VALUES (${globex.deskId}, 'globex news', 'received')`;
    await desk(page, globex).locator('.last', { hasText: 'globex news' }).waitFor();
    assert.ok(!(await page.content()).includes('acme only'));
    await page.context().close();
  });

  test('a long history loads 50 at a time as it scrolls up (keyset before), to its first message', async () => {
    const long = await createDesk(db.sql, 'acme', { name: 'Long talker', phone: '+55 11 90000-0005' });
    await db.sql`
      INSERT INTO messages (help_desk_id, message, type, created_at)
      SELECT ${long.deskId}, 'line ' || g, 'received', now() - make_interval(secs => 200 - g) FROM generate_series(1, 120) g`;
    const page = await signedIn('acme');
    await desk(page, long).click();
    await page.locator('.bubble', { hasText: 'line 120' }).waitFor();
    assert.equal(await page.locator('.bubble').count(), 50, 'the newest 50');
    for (const loaded of [100, 120]) {
      await page.locator('.messages').evaluate((el) => (el.scrollTop = 0));
      await page.waitForFunction((n) => document.querySelectorAll('.bubble').length === n, loaded);
    }
    await page.locator('.start', { hasText: 'beginning of the conversation' }).waitFor();
    const first = await page.locator('.bubble p').first().textContent();
    assert.equal(first, 'line 1');
    await page.context().close();
  });

  test('"Assigned to me" shows the desks assigned to the agent, following a reassignment live; the keyboard opens a desk', async () => {
    const page = await signedIn('acme', 'carol');
    await page.click('button:has-text("Assigned to me")');
    await page.locator('.empty', { hasText: 'No desk is assigned to you' }).waitFor();
    await db.sql`UPDATE help_desks SET assignee = 'carol' WHERE id = ${ana.deskId}`; // any writer assigns
    await desk(page, ana).waitFor();
    assert.deepEqual(await page.locator('.desk .name').allTextContents(), ['Ana']);
    await desk(page, ana).focus();
    await page.keyboard.press('Enter');
    await page.locator('.conversation header', { hasText: 'assigned to carol' }).waitFor();
    await page.keyboard.press('Tab'); // on to the history, then the composer
    await page.focus('textarea[name=message]');
    await page.keyboard.type('typed, not clicked');
    await page.keyboard.press('Enter');
    await page.locator('.bubble.sent', { hasText: 'typed, not clicked' }).waitFor();
    await db.sql`UPDATE help_desks SET assignee = NULL WHERE id = ${ana.deskId}`;
    await desk(page, ana).waitFor({ state: 'detached' });
    await page.context().close();
  });

  test('readable at phone width: the list, then the conversation with a way back', async () => {
    const page = await signedIn('acme');
    await page.setViewportSize({ width: 375, height: 700 });
    await desk(page, ana).click();
    assert.equal(await page.locator('.desks').isVisible(), false);
    await page.click('.conversation .back');
    assert.equal(await page.locator('.desks').isVisible(), true);
    await page.context().close();
  });
});
