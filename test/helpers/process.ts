import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/config.ts';

export interface ServerProcess {
  child: ChildProcess;
  rest: string;
  ws: string;
  /** http://host:port/metrics */
  metrics: string;
  output(): string;
  /** The process's resident memory, in MiB (from /proc). */
  rssMiB(): number;
  exited(): Promise<number | null>;
}

/** deskwire as `npm start` runs it, in a child process, on free ports. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  return launchServerProcess(env).up;
}

/** The same, without waiting: `up` resolves once it says it is up. */
export function launchServerProcess(env: Record<string, string>): { child: ChildProcess; output(): string; up: Promise<ServerProcess> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'main.ts')], {
    cwd: projectRoot,
    // info: the "deskwire is up" line says where it listens.
    env: { ...process.env, PORT: '0', WS_PORT: '0', ...env, LOG_LEVEL: 'info' },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, up: waitUp() };
  async function waitUp(): Promise<ServerProcess> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const line = out.split('\n').find((l) => l.includes('deskwire is up'));
      if (line) {
        const up = JSON.parse(line) as { rest: string; websocket: string; metrics: string };
        return {
          child,
          rest: up.rest,
          metrics: up.metrics,
          ws: up.websocket.replace(/\/ws\/chat\/<organization>\/$/, ''),
          output: () => out,
          rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
          exited: () => exit,
        };
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`deskwire did not come up:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
