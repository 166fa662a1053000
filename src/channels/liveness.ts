import { EventEmitter } from 'node:events';
import postgres from 'postgres';
import type { WorkerEvents } from 'graphile-worker';
import { textArray } from '../db/arrays.ts';
import { jobs } from '../domain.ts';
import type { Logger } from '../log.ts';

/** How often dead workers' jobs are looked for, and how long a job must have been locked first. */
const sweepMs = 2000;
const graceSeconds = 5;

/**
 * graphile-worker frees the jobs of a worker that died without a word only after
 * four hours. Each of our worker pools holds a session lock, named by its id
 * (which graphile-worker writes in locked_by), for as long as its process lives;
 * every few seconds each process frees the deskwire jobs whose pool's lock nobody
 * holds (force_unlock_workers), so another runs them again at once. A pool must
 * have held its jobs for a few seconds first: its lock is taken just after it starts.
 */
export async function holdLiveness(databaseUrl: string, log: Logger): Promise<{ events: WorkerEvents; stop(): Promise<void> }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, fetch_types: false, connection: { application_name: 'deskwire-worker-liveness' } });
  const pools = new Set<string>();
  const events: WorkerEvents = new EventEmitter();

  // Takes the locks of our pools that this session does not hold (again, after a reconnect).
  const hold = () =>
    sql`
      SELECT pg_advisory_lock(hashtext('deskwire.worker'), hashtext(id))
      FROM unnest(${textArray(sql, [...pools])}) id
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory' AND l.objsubid = 2
          AND l.classid = hashtext('deskwire.worker')::oid AND l.objid = hashtext(id)::oid)`;

  const sweep = async () => {
    await hold();
    const [freed] = await sql<{ pools: string[] | null }[]>`
      WITH dead AS (
        SELECT DISTINCT j.locked_by FROM graphile_worker.jobs j
        WHERE j.locked_by IS NOT NULL AND j.task_identifier LIKE ${jobs.prefix + '%'}
          AND j.locked_at < now() - make_interval(secs => ${graceSeconds})
          AND NOT EXISTS (
            SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = hashtext('deskwire.worker')::oid AND l.objid = hashtext(j.locked_by)::oid)
      )
      SELECT array_agg(locked_by) AS pools, graphile_worker.force_unlock_workers(array_agg(locked_by))
      FROM dead HAVING count(*) > 0`;
    if (freed?.pools) log.warn({ pools: freed.pools }, 'freed the jobs of workers that are gone; they run again now');
    // Claims left by a job that is gone without releasing them (a crash after the status moved).
    await sql`DELETE FROM delivery_claims d WHERE NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.id = d.job_id)`;
  };

  events.on('pool:create', ({ workerPool }: { workerPool: { id: string } }) => {
    pools.add(workerPool.id);
    hold().catch((err) => log.warn({ err: (err as Error).message }, 'could not take a worker liveness lock; retrying'));
  });
  events.on('pool:release', ({ workerPool }: { workerPool: { id: string } }) => pools.delete(workerPool.id));

  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = sweep().catch((err) => log.warn({ err: (err as Error).message }, 'looking for dead workers\' jobs failed; will retry'));
  }, sweepMs);
  timer.unref();

  return {
    events,
    async stop() {
      clearInterval(timer);
      await running;
      await sql.end({ timeout: 2 });
    },
  };
}
