// Everything the bench runs is its own process: deskwire, the baselines, and each
// load generator. They talk to the bench in JSON lines on stdout (and take
// commands on stdin), and the bench reads their CPU and memory from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { projectRoot } from '../../src/config.ts';

const ticksPerSecond = 100; // USER_HZ on Linux

export interface Proc {
  child: ChildProcess;
  /** The next JSON line the process prints. */
  next<T = Record<string, unknown>>(): Promise<T>;
  send(command: string): void;
  /** CPU seconds (user + system) the process has used so far. */
  cpuSeconds(): number;
  cpu(): { user: number; system: number };
  /** Seconds its main thread has run on a CPU, and waited for one while runnable. */
  mainThread(): { running: number; waiting: number };
  rssMiB(): number;
  stop(): Promise<void>;
}

let spawned = 0;
const children = new Set<ChildProcess>();
// A bench stopped midway must not leave servers and load behind it.
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** Runs a TypeScript file of this repository as a process of its own. */
export function run(file: string, args: unknown, env: Record<string, string> = {}, nodeFlags: string[] = []): Proc {
  return start(file, process.execPath, [...nodeFlags, '--import', 'tsx', join(projectRoot, file)], JSON.stringify(args), env);
}

/** Runs a native load generator (bench/load/*.c, built by native.ts); its arguments are text. */
export function runNative(binary: string, args: string): Proc {
  return start(binary, binary, [], args, {});
}

function start(file: string, command: string, argv: string[], args: string, env: Record<string, string>): Proc {
  // Arguments go in a file: a command line holds at most 128 KiB.
  const argsFile = join(tmpdir(), `deskwire-bench-args-${process.pid}-${++spawned}`);
  writeFileSync(argsFile, args);
  const child = spawn(command, [...argv, argsFile], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let exited = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      for (const w of waiting.splice(0)) w(JSON.stringify({ error: `${file} exited with ${code}` }));
      resolve();
    }),
  );
  return {
    child,
    async next<T>() {
      const line = lines.shift() ?? (exited ? JSON.stringify({ error: `${file} has exited` }) : await new Promise<string>((r) => waiting.push(r)));
      const value = JSON.parse(line);
      if (value.error) throw new Error(`${file}: ${value.error}`);
      return value as T;
    },
    send: (command) => child.stdin!.write(command + '\n'),
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    cpu: () => cpuOf(child.pid!),
    mainThread: () => mainThreadOf(child.pid!),
    rssMiB: () => rssMiBOf(child.pid!),
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await Promise.race([exit, new Promise((r) => setTimeout(r, 15_000))]);
      if (!exited) child.kill('SIGKILL');
      await exit;
    },
  };
}

export function cpuSecondsOf(pid: number): number {
  const { user, system } = cpuOf(pid);
  return user + system;
}

/** CPU seconds in user space and in the kernel (sends and receives are syscalls). */
export function cpuOf(pid: number): { user: number; system: number } {
  // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / ticksPerSecond, system: Number(fields[12]) / ticksPerSecond };
}

/**
 * The scheduler's account of a process's main thread (the event loop): a server
 * that falls behind while waiting for a CPU is short of cores, not slow.
 */
export function mainThreadOf(pid: number): { running: number; waiting: number } {
  const [running, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { running: running! / 1e9, waiting: waiting! / 1e9 };
}

/** CPU seconds the whole machine has been busy (every core, /proc/stat): how full it was. */
export function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / ticksPerSecond;
}

export function rssMiBOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** A load generator's side: the arguments the bench gave it. */
export function argsOf<T>(): T {
  return JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as T;
}

/** A load generator's side of the protocol: print a JSON line. */
export function say(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** A load generator's side: resolves on each command line from the bench. */
export function commands(onCommand: (command: string) => void | Promise<void>): void {
  createInterface({ input: process.stdin }).on('line', (line) => void Promise.resolve(onCommand(line.trim())).catch((err) => say({ error: String(err) })));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds of a process and its children now running (WORKERS > 1: the primary and its workers). */
export function treeCpuSeconds(pid: number): number {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
  return cpuSecondsOf(pid) + children.reduce((a, c) => a + (existsSync(`/proc/${c}/stat`) ? treeCpuSeconds(Number(c)) : 0), 0);
}
