// The C load generators, built once per bench run with the machine's C compiler.
// Without one (or with BENCH_NODE_CLIENTS=1) the bench falls back to the Node
// clients, and says so: their own CPU then crowds the server on two cores.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/config.ts';

const built = new Map<string, string | undefined>();

/** The path of bench/load/<name>.c compiled, or undefined (and why, on stderr) where it cannot be. */
export function nativeBinary(name: string): string | undefined {
  if (process.env.BENCH_NODE_CLIENTS === '1') return undefined;
  if (built.has(name)) return built.get(name);
  const out = join(mkdtempSync(join(tmpdir(), 'deskwire-native-')), name);
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-o', out, join(projectRoot, 'bench', 'load', `${name}.c`)], { encoding: 'utf8' });
  const ok = r.status === 0;
  if (!ok) console.error(`bench: could not build bench/load/${name}.c with ${cc} (${r.error?.message ?? r.stderr.trim()}); using the Node client`);
  built.set(name, ok ? out : undefined);
  return built.get(name);
}
