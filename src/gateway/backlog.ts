import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * uSockets listens with a backlog of 512, fixed in its C code. When 10,000 agents
 * reconnect at once (a deploy, a network blip) the kernel drops the handshakes past
 * it, and each client retries only 1, 3, 7 s later: the backlog, not the server,
 * sets how long they take to come back. listen(2) on a socket that listens already
 * just changes its backlog, so a child process given the socket does that. (Linux
 * caps it at net.core.somaxconn.) Returns the backlog asked for, or undefined where
 * it could not be done (not Linux, socket not found): the server runs as before.
 */
export function raiseListenBacklog(port: number, backlog: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  const fd = listeningFd(port);
  if (fd === undefined) return undefined;
  // Synchronous from listen() to exit: the child's event loop never runs, so it
  // never accepts a connection meant for us.
  const child = spawnSync(
    process.execPath,
    // (Node takes the backlog from the second argument here, not from the options.)
    ['-e', `require('node:net').createServer().listen({ fd: 3 }, ${backlog}); process.exit(0);`],
    { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 },
  );
  return child.status === 0 ? backlog : undefined;
}

/** This process's file descriptor of the TCP socket listening on `port`. */
function listeningFd(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; inode is field 9.
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${entry}`));
      if (m && inodes.has(m[1]!)) return Number(entry);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}
