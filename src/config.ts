import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** Everything deskwire reads from its environment, validated once at start. */
export interface Config {
  /** Unset: run an embedded PostgreSQL under dataDir. */
  databaseUrl: string | undefined;
  host: string;
  port: number;
  wsPort: number;
  /** GET /metrics (Prometheus) listens here; 0 picks a free port. */
  metricsPort: number;
  /** Seconds of silence before a socket is pinged; one that stays silent is closed. */
  wsIdleTimeout: number;
  dataDir: string;
  mediaDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  maxBodyBytes: number;
  maxUploadBytes: number;
  /** HS256 key of access tokens; '' when loaded only to reach the database. */
  jwtSecret: string;
  /** MIME types an upload may declare: exact (`application/pdf`) or a family (`image/*`). */
  uploadTypes: string[];
  /** REST writes per second per credential (bursts up to the same number). */
  writeRateLimit: number;
  /** Open sockets per credential; connection attempts are limited to as many per 10 s. */
  wsConnectionsPerToken: number;
  /** Origins allowed to open a browser socket; undefined: any. */
  allowedOrigins: string[] | undefined;
  /** Failed authentications per minute per address before it gets 429s. */
  authFailuresPerMinute: number;
  /** How long events stay in the log for resumes. */
  eventRetentionSeconds: number;
  /** Topics one socket may listen to. */
  wsTopicsPerSocket: number;
  /** The largest room event's data, as JSON. */
  maxEventBytes: number;
  /** Whether this process runs the channel worker (graphile-worker) too. */
  worker: boolean;
  /** Deliveries one process makes at once. */
  workerConcurrency: number;
  /** Attempts before an outgoing message that keeps failing is marked failed. */
  deliveryMaxAttempts: number;
  /** How long one delivery request may take, answer included. */
  deliveryTimeoutMs: number;
  /** Inbound webhook requests per second per organization. */
  inboundRateLimit: number;
  /** After SIGTERM, how long /readyz answers 503 while sockets and requests are still served. */
  drainGraceMs: number;
  /** Gateway processes on this machine, sharing PORT and WS_PORT. */
  workers: number;
  /** How events reach the gateways: each one's LISTEN, or NATS JetStream. */
  fanout: 'listen' | 'nats';
  natsUrl: string;
}

export class ConfigError extends Error {}

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();

const Env = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .optional(),
  HOST: z.string().default('127.0.0.1'),
  PORT: port.default(8000),
  WS_PORT: port.default(8001),
  METRICS_PORT: port.default(9464),
  // uWS checks timeouts every 4 s and needs at least 8.
  WS_IDLE_TIMEOUT: z.coerce.number().int().min(8).max(960).default(60),
  DATA_DIR: z.string().default(resolve(projectRoot, '.data')),
  MEDIA_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_BODY_BYTES: bytes.default(1048576),
  MAX_UPLOAD_BYTES: bytes.default(26214400),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (try: openssl rand -base64 48)').optional(),
  UPLOAD_TYPES: z
    .string()
    .default('image/png,image/jpeg,image/gif,image/webp,audio/*,video/*,application/pdf,text/plain')
    .transform((v) => v.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+)$/, 'must be MIME types like image/* or application/pdf')).min(1)),
  WRITE_RATE_LIMIT: z.coerce.number().int().positive().default(20),
  WS_CONNECTIONS_PER_TOKEN: z.coerce.number().int().positive().default(20),
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(60),
  WS_TOPICS_PER_SOCKET: z.coerce.number().int().min(1).max(10000).default(100),
  // room_events refuses more than 1 MiB whoever writes it.
  MAX_EVENT_BYTES: z.coerce.number().int().positive().max(1048576).default(65536),
  WORKER: z.enum(['on', 'off']).default('on'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(10),
  DELIVERY_TIMEOUT: z
    .string()
    .default('10s')
    .transform((v, ctx) => {
      const s = parseDuration(v);
      if (s === undefined || s > 300) return ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 300s, like 10s' }), z.NEVER;
      return s * 1000;
    }),
  INBOUND_RATE_LIMIT: z.coerce.number().int().positive().default(50),
  EVENT_RETENTION: z
    .string()
    .default('24h')
    .transform((v, ctx) => parseDuration(v) ?? (ctx.addIssue({ code: 'custom', message: 'must be a duration like 30m, 24h or 7d' }), z.NEVER)),
  DRAIN_GRACE: z
    .string()
    .default('5s')
    .transform((v, ctx) => {
      const s = /^0s?$/.test(v.trim()) ? 0 : parseDuration(v);
      if (s === undefined || s > 300) return ctx.addIssue({ code: 'custom', message: 'must be a duration from 0s to 300s, like 5s' }), z.NEVER;
      return s * 1000;
    }),
  WORKERS: z
    .string()
    .default('1')
    .transform((v, ctx) => {
      const n = v === 'auto' ? availableParallelism() : Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) return ctx.addIssue({ code: 'custom', message: 'must be auto or a whole number from 1 to 64' }), z.NEVER;
      return n;
    }),
  FANOUT: z.enum(['listen', 'nats']).default('listen'),
  NATS_URL: z.string().regex(/^(nats|tls|wss?):\/\//, 'must be a nats:// URL').default('nats://127.0.0.1:4222'),
  ALLOWED_ORIGINS: z
    .string()
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.url('must be origins like https://app.example.com')))
    .optional(),
});

/**
 * Reads `.env` (if present) under the real environment, which wins. `serve` (the
 * server) needs the token secret; `database` (migrations, key management) does not.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, purpose: 'serve' | 'database' = 'serve'): Config {
  const file = resolve(process.cwd(), '.env');
  if (env === process.env && existsSync(file)) process.loadEnvFile(file);
  // An empty variable means "unset", as in most deployment tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  if (e.WORKERS > 1 && (e.PORT === 0 || e.WS_PORT === 0)) {
    throw new ConfigError('invalid configuration: WORKERS: several workers share PORT and WS_PORT, which must not be 0');
  }
  if (purpose === 'serve' && e.DATABASE_URL && !e.JWT_SECRET) {
    throw new ConfigError('invalid configuration: JWT_SECRET: is required with DATABASE_URL (try: openssl rand -base64 48)');
  }
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    wsPort: e.WS_PORT,
    metricsPort: e.METRICS_PORT,
    wsIdleTimeout: e.WS_IDLE_TIMEOUT,
    dataDir,
    mediaDir: resolve(e.MEDIA_DIR ?? resolve(dataDir, 'media')),
    logLevel: e.LOG_LEVEL,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    jwtSecret: e.JWT_SECRET ?? (e.DATABASE_URL ? '' : embeddedJwtSecret(dataDir)),
    uploadTypes: e.UPLOAD_TYPES,
    writeRateLimit: e.WRITE_RATE_LIMIT,
    wsConnectionsPerToken: e.WS_CONNECTIONS_PER_TOKEN,
    allowedOrigins: e.ALLOWED_ORIGINS?.map((o) => new URL(o).origin),
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    eventRetentionSeconds: e.EVENT_RETENTION,
    wsTopicsPerSocket: e.WS_TOPICS_PER_SOCKET,
    maxEventBytes: e.MAX_EVENT_BYTES,
    worker: e.WORKER === 'on',
    workerConcurrency: e.WORKER_CONCURRENCY,
    deliveryMaxAttempts: e.DELIVERY_MAX_ATTEMPTS,
    deliveryTimeoutMs: e.DELIVERY_TIMEOUT,
    inboundRateLimit: e.INBOUND_RATE_LIMIT,
    drainGraceMs: e.DRAIN_GRACE,
    workers: e.WORKERS,
    fanout: e.FANOUT,
    natsUrl: e.NATS_URL,
  };
}

/** "90s", "15m", "24h", "7d" -> seconds; undefined when it is none of those. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return seconds > 0 ? seconds : undefined;
}

/** In embedded mode a first run should just work: a secret made once, kept in DATA_DIR. */
function embeddedJwtSecret(dataDir: string): string {
  const file = resolve(dataDir, 'jwt.secret');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(48).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process made it first
    }
  }
  return readFileSync(file, 'utf8').trim();
}
