import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Resolves once `cond` holds; fails after `ms` saying what it waited for. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A TCP port nothing listens on right now, below the kernel's ephemeral range: a
 * server restarted on it must find it free, and a port the kernel hands out for
 * outgoing connections (to PostgreSQL, between two tests' clients) may be taken by
 * one of them meanwhile.
 */
export async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * ((low ?? 32768) - 10_000));
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
