// `npm run cli -- <command>`: organizations, API keys, access tokens, channels, and
// a tail of an organization's events.
// Results go to stdout (a key or a token alone, for scripts); explanations to stderr.
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { createKey, listKeys, revokeKey } from './auth/keys.ts';
import { removeChannel, setChannel, showChannel } from './channels/admin.ts';
import { mintToken } from './auth/tokens.ts';
import { ConfigError, loadConfig, parseDuration } from './config.ts';
import { openDatabase } from './db/database.ts';
import { isUpToDate } from './db/migrate.ts';
import { organizationName, organizationNameRule } from './domain.ts';
import { createLogger } from './log.ts';
import { tail } from './cli/tail.ts';

const usage = `usage: npm run cli -- <command>

  org create <name>                       create an organization
  org list                                list organizations
  key create --org <name> [--name <label>]  create an API key (printed once)
  key list --org <name>                   list an organization's keys
  key revoke <key id>                     revoke a key; its open sockets close
  token --org <name> [--sub <who>] [--ttl <15m|1h|7d>]
                                          mint an access token (default 1h, at most 30d)
  channel set <org> <url|echo>            deliver outgoing messages to a webhook (or the echo
                                          demo); prints the signing secret, once
  channel show <org>                      the channel (never its secret)
  channel remove <org>                    stop delivering; messages stay "sending"
  tail <org> [--topics t1,t2] [--since <id>] [--json] [--token <token or key>] [--url ws://host:port]
                                          the organization's live events, one line each (or JSON),
                                          resuming after drops and restarts; Ctrl-C says where to resume`;

class UsageError extends Error {}

let flags: { org?: string; name?: string; sub?: string; ttl?: string; help?: boolean; topics?: string; since?: string; json?: boolean; token?: string; url?: string } = {};
let noun: string | undefined, verb: string | undefined, arg: string | undefined, arg2: string | undefined;

try {
  try {
    const parsed = parseArgs({
      allowPositionals: true,
      options: {
        org: { type: 'string' }, name: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        topics: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, token: { type: 'string' }, url: { type: 'string' },
      },
    });
    flags = parsed.values;
    [noun, verb, arg, arg2] = parsed.positionals;
  } catch (err) {
    throw new UsageError((err as Error).message); // an unknown option, a missing value
  }
  if (flags.help) {
    console.log(usage);
    process.exit(0);
  }
  if (!noun) throw new UsageError('');
  const config = loadConfig(process.env, 'database');
  if (noun === 'token') {
    if (!config.jwtSecret) throw new ConfigError('JWT_SECRET is required to mint tokens');
    const org = organization(flags.org);
    const ttlSeconds = duration(flags.ttl ?? '1h');
    console.log(await mintToken(config.jwtSecret, { org, sub: flags.sub ?? 'cli', ttlSeconds }));
    console.error(`token for organization "${org}", subject "${flags.sub ?? 'cli'}", valid ${flags.ttl ?? '1h'}`);
  } else if (noun === 'tail') {
    if (flags.since !== undefined && !/^\d+$/.test(flags.since)) throw new UsageError('--since takes an event id (digits)');
    await tail({
      organization: organization(verb),
      url: flags.url ?? `ws://127.0.0.1:${config.wsPort}`,
      topics: flags.topics?.split(',').filter(Boolean),
      since: flags.since,
      json: flags.json ?? false,
      token: flags.token ?? process.env.DESKWIRE_TOKEN,
      jwtSecret: config.jwtSecret,
    });
  } else if (noun === 'org' || noun === 'key' || noun === 'channel') {
    await withDatabase(config, (sql) => (noun === 'org' ? orgCommand(sql) : noun === 'key' ? keyCommand(sql) : channelCommand(sql)));
  } else {
    throw new UsageError(`unknown command: ${noun}`);
  }
} catch (err) {
  if (err instanceof UsageError) {
    if (err.message) console.error(`deskwire: ${err.message}\n`);
    console.error(usage);
    process.exit(2);
  }
  console.error(`deskwire: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

async function orgCommand(sql: postgres.Sql): Promise<void> {
  if (verb === 'create') {
    const name = organization(arg);
    const rows = await sql`INSERT INTO organizations (name) VALUES (${name}) ON CONFLICT DO NOTHING RETURNING name`;
    console.error(rows.length ? `created organization "${name}"` : `organization "${name}" already exists`);
  } else if (verb === 'list') {
    for (const { name } of await sql`SELECT name FROM organizations ORDER BY name`) console.log(name);
  } else throw new UsageError(`unknown org command: ${verb ?? '(none)'}`);
}

async function keyCommand(sql: postgres.Sql): Promise<void> {
  if (verb === 'create') {
    const org = organization(flags.org);
    const [exists] = await sql`SELECT 1 FROM organizations WHERE name = ${org}`;
    if (!exists) throw new Error(`organization "${org}" does not exist (npm run cli -- org create ${org})`);
    const { id, key } = await createKey(sql, org, flags.name ?? '');
    console.log(key);
    console.error(`created API key ${id} for "${org}". It is shown this once: store it now.`);
  } else if (verb === 'list') {
    const org = organization(flags.org);
    for (const k of await listKeys(sql, org)) {
      console.log(`${k.id}  ${k.revoked_at ? 'revoked ' + k.revoked_at.toISOString() : 'active'}  created ${k.created_at.toISOString()}  ${k.name}`);
    }
  } else if (verb === 'revoke') {
    if (!arg || !/^[0-9a-f-]{36}$/i.test(arg)) throw new UsageError('key revoke needs a key id (see key list)');
    if (!(await revokeKey(sql, arg))) throw new Error(`no active key ${arg}`);
    console.error(`revoked API key ${arg}`);
  } else throw new UsageError(`unknown key command: ${verb ?? '(none)'}`);
}

async function channelCommand(sql: postgres.Sql): Promise<void> {
  const org = organization(arg);
  if (verb === 'set') {
    if (!arg2) throw new UsageError('channel set needs a webhook URL or "echo"');
    const { secret } = await setChannel(sql, org, arg2);
    console.log(secret);
    console.error(`channel of "${org}" set to ${arg2}. The secret above signs both ways; it is shown this once: store it now.`);
  } else if (verb === 'show') {
    const c = await showChannel(sql, org);
    if (!c) throw new Error(`organization "${org}" has no channel`);
    console.log(`${c.kind}${c.url ? ' ' + c.url : ''}  set ${c.created_at.toISOString()}`);
  } else if (verb === 'remove') {
    if (!(await removeChannel(sql, org))) throw new Error(`organization "${org}" has no channel`);
    console.error(`removed the channel of "${org}"`);
  } else throw new UsageError(`unknown channel command: ${verb ?? '(none)'}`);
}

async function withDatabase(config: ReturnType<typeof loadConfig>, run: (sql: postgres.Sql) => Promise<void>): Promise<void> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const database = await openDatabase(config, log);
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    // Migrating is `npm run migrate`'s job, or a start's: done here, it would change
    // the functions under a running server's feet whenever the two versions differ.
    if (!(await isUpToDate(sql))) {
      throw new Error('the database is not up to date with this version: run `npm run migrate` (or `npm start`) first');
    }
    await run(sql);
  } finally {
    await sql.end();
    await database.stop();
  }
}

function organization(name: string | undefined): string {
  if (!name) throw new UsageError('an organization is required (--org <name>)');
  if (!organizationName.test(name)) throw new UsageError(`organization names ${organizationNameRule}`);
  return name;
}

function duration(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) throw new UsageError('--ttl takes a number and a unit: 90s, 15m, 1h, 7d');
  if (seconds > 30 * 86400) throw new UsageError('--ttl must be between 1s and 30d');
  return seconds;
}
