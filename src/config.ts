import { existsSync } from 'node:fs';
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
  /** Seconds of silence before a socket is pinged; one that stays silent is closed. */
  wsIdleTimeout: number;
  dataDir: string;
  mediaDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  maxBodyBytes: number;
  maxUploadBytes: number;
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
  // uWS checks timeouts every 4 s and needs at least 8.
  WS_IDLE_TIMEOUT: z.coerce.number().int().min(8).max(960).default(60),
  DATA_DIR: z.string().default(resolve(projectRoot, '.data')),
  MEDIA_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_BODY_BYTES: bytes.default(1048576),
  MAX_UPLOAD_BYTES: bytes.default(26214400),
});

/** Reads `.env` (if present) under the real environment, which wins. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
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
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    wsPort: e.WS_PORT,
    wsIdleTimeout: e.WS_IDLE_TIMEOUT,
    dataDir,
    mediaDir: resolve(e.MEDIA_DIR ?? resolve(dataDir, 'media')),
    logLevel: e.LOG_LEVEL,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
  };
}
