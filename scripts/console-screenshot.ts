// Writes docs/console.png: the console in Chromium, on a test database with a few
// conversations. Run with `node --import tsx test/run.ts --script scripts/console-screenshot.ts`.
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { mintToken } from '../src/auth/tokens.ts';
import { projectRoot } from '../src/config.ts';
import { createTestDatabase } from '../test/helpers/database.ts';
import { createDesk } from '../test/helpers/fixtures.ts';
import { startServerProcess } from '../test/helpers/process.ts';

const secret = 'screenshot-secret-long-enough-0123456789abcdef';
const db = await createTestDatabase();
const server = await startServerProcess({ DATABASE_URL: db.url, JWT_SECRET: secret });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
try {
  const say = (desk: string, text: string, type: 'sent' | 'received', status = 'delivered') =>
    db.sql`INSERT INTO messages (help_desk_id, message, type, status) VALUES (${desk}, ${text}, ${type}, ${status})`;
  const carla = await createDesk(db.sql, 'acme', { name: 'Carla Souza', phone: '+55 11 98888-1234' });
  await say(carla.deskId, 'My order #4521 has not arrived yet', 'received');
  const bruno = await createDesk(db.sql, 'acme', { name: 'Bruno Lima', phone: '+55 21 97777-5678' });
  await say(bruno.deskId, 'Can I change the delivery address?', 'received');
  await say(bruno.deskId, 'Of course! What is the new address?', 'sent', 'read');
  const ana = await createDesk(db.sql, 'acme', { name: 'Ana Pereira', phone: '+55 11 90000-0003' });
  await db.sql`UPDATE help_desks SET assignee = 'alice' WHERE id = ${ana.deskId}`;
  await say(ana.deskId, 'Oi! Is anyone there?', 'received');
  await say(ana.deskId, 'Hi Ana, Alice here. How can I help?', 'sent', 'read');
  await say(ana.deskId, 'The invoice shows the wrong company name', 'received');
  await say(ana.deskId, 'Let me fix that for you now.', 'sent', 'delivered');
  await say(ana.deskId, 'Done: the new invoice is on its way.', 'sent', 'sending');
  await say(carla.deskId, 'Hello? Anyone?', 'received');
  const page = await browser.newPage({ viewport: { width: 1100, height: 620 } });
  await page.goto(server.rest + '/');
  await page.fill('textarea[name=token]', await mintToken(secret, { org: 'acme', sub: 'alice', ttlSeconds: 600 }));
  await page.click('button[type=submit]');
  await page.click(`[data-desk="${ana.deskId}"]`);
  await page.locator('.bubble', { hasText: 'on its way' }).waitFor();
  await page.screenshot({ path: join(projectRoot, 'docs', 'console.png') });
  console.log('wrote docs/console.png');
} finally {
  await browser.close();
  server.child.kill('SIGKILL');
  await db.drop();
}
