// npm run bench [-- --quick] [-- --only fanout,connections,writers,rest,topics,channels,clients,soak,scaling]
//
// Every scenario against a baseline measured in the same run, every process its
// own (deskwire, the baselines, each load generator). Writes bench/results/report.json
// and bench/results/report.md, and the table to bench/results/runs/ (kept in git);
// docs/performance.md carries the last full run's table.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../src/config.ts';
import { nativeBinary } from './lib/native.ts';
import { createDatabase, seed, startDeskwire } from './lib/setup.ts';
import { round } from './lib/stats.ts';
import { channels } from './scenarios/channels.ts';
import { clients } from './scenarios/clients.ts';
import { connections } from './scenarios/connections.ts';
import { type Context, type Result, type Row, pgbenchWrites } from './scenarios/context.ts';
import { fanout } from './scenarios/fanout.ts';
import { rest } from './scenarios/rest.ts';
import { scaling } from './scenarios/scaling.ts';
import { soak } from './scenarios/soak.ts';
import { topics } from './scenarios/topics.ts';
import { writers } from './scenarios/writers.ts';

// scaling stops the run's deskwire (it starts its own): it runs last.
const scenarios = { fanout, connections, writers, rest, topics, channels, clients, soak, scaling } as const;
const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const chosen = (args.only?.split(',') ?? Object.keys(scenarios)) as (keyof typeof scenarios)[];
const started = Date.now();
const log = (line: string) => console.log(`[${round((Date.now() - started) / 1000, 0)}s] ${line}`);

const tmp = await mkdtemp(join(tmpdir(), 'deskwire-bench-'));
await chmod(tmp, 0o755);
const db = await createDatabase(tmp);
const results: Record<string, Result | { error: string }> = {};
try {
  // 100 organizations x 100 desks = 10,000 desks; 100 messages each = 1,000,000.
  const messagesPerDesk = args.quick ? 10 : 100;
  log(`seeding 10,000 desks and ${(10_000 * messagesPerDesk).toLocaleString('en')} messages (${db.where})`);
  const orgs = await seed(db.url, 100, 100, messagesPerDesk);
  const deskwire = await startDeskwire(db.url, tmp);
  const ctx: Context = { url: db.url, quick: args.quick, deskwire, orgs, log };
  for (const name of chosen) {
    log(`scenario ${name}`);
    try {
      results[name] = await scenarios[name](ctx);
    } catch (err) {
      log(`scenario ${name} failed: ${(err as Error).stack}`);
      results[name] = { error: String(err) };
    }
  }
  await deskwire.proc.stop();
} finally {
  await db.stop();
  await rm(tmp, { recursive: true, force: true });
}

const rows: Row[] = Object.values(results).flatMap((r) => ('rows' in r ? r.rows : []));
const socketClients = nativeBinary('sockets') ? 'socket clients in C' : 'socket clients in Node (no C compiler, or BENCH_NODE_CLIENTS=1)';
const writer = (await pgbenchWrites()) ? 'messages written by pgbench' : 'messages written by a Node process (no pgbench, or BENCH_NODE_WRITER=1)';
const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.versions.node}, ${db.where}, ${socketClients}, ${writer}`;
const report = { date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full', machine, seconds: round((Date.now() - started) / 1000, 0), rows, results };
const cell = (v: number | string) => (typeof v === 'number' ? v.toLocaleString('en') : v);
const markdown = [
  `deskwire bench, ${report.mode} run, ${report.date.slice(0, 10)}: ${machine}`,
  '',
  '| scenario | metric | deskwire | baseline | target | met |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.scenario} | ${r.metric} | ${cell(r.deskwire)} | ${cell(r.baseline)} | ${r.target} | ${r.met === null ? '-' : r.met ? 'yes' : '**no**'} |`),
  ...Object.entries(results).flatMap(([name, r]) => ('error' in r ? [`| ${name} | failed: ${r.error} | | | | **no** |`] : [])),
].join('\n');
await mkdir(join(projectRoot, 'bench', 'results'), { recursive: true });
await writeFile(join(projectRoot, 'bench', 'results', 'report.json'), JSON.stringify(report, null, 2) + '\n');
await writeFile(join(projectRoot, 'bench', 'results', 'report.md'), markdown + '\n');
// The table of every run, kept in git (bench/results/runs/): the history of the numbers.
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).stdout?.trim() || 'unknown';
const runFile = join('bench', 'results', 'runs', `${report.date.slice(0, 19).replace(/:/g, '-')}-${report.mode}${args.only ? '-' + chosen.join('-') : ''}.json`);
await mkdir(join(projectRoot, 'bench', 'results', 'runs'), { recursive: true });
await writeFile(join(projectRoot, runFile), JSON.stringify({ date: report.date, mode: report.mode, scenarios: chosen, commit, machine, seconds: report.seconds, rows }, null, 2) + '\n');
console.log('\n' + markdown + `\n\nreport: bench/results/report.json, bench/results/report.md; the table: ${runFile}`);
process.exit(0);
