import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';

const batch = 1000;
const everyMs = 60_000;

/**
 * Deletes events older than the retention, a thousand at a time (short
 * transactions), and records the highest position deleted, below which a resume
 * must reload instead. Also drops the notes of desk changes and the room events
 * the sequencer has read (the log keeps a room event's data).
 */
export async function pruneOnce(sql: Sql, retentionSeconds: number): Promise<number> {
  let total = 0;
  for (;;) {
    const [{ n }] = (await sql`
      WITH gone AS (
        -- Oldest first by position (the primary key). Positions follow time closely
        -- enough: a straggler goes in the next round.
        DELETE FROM events WHERE position IN (
          SELECT position FROM (
            SELECT position, created_at FROM events ORDER BY position LIMIT ${batch}) oldest
          WHERE created_at < clock_timestamp() - make_interval(secs => ${retentionSeconds}))
        RETURNING position
      ), marked AS (
        UPDATE event_log SET pruned_through = greatest(pruned_through, (SELECT max(position) FROM gone))
        WHERE EXISTS (SELECT 1 FROM gone)
      )
      SELECT count(*)::int AS n FROM gone`) as unknown as [{ n: number }];
    total += n;
    if (n < batch) break;
  }
  // Every transaction below the sequencer's snapshot's xmin has ended, and its
  // window is logged.
  await sql`DELETE FROM desk_changes WHERE written_by < pg_snapshot_xmin((SELECT others_seen FROM sequencer))`;
  await sql`DELETE FROM room_events WHERE written_by < pg_snapshot_xmin((SELECT others_seen FROM sequencer))`;
  return total;
}

export function pruneEvents(sql: Sql, retentionSeconds: number, log: Logger): { stop(): void } {
  const timer = setInterval(() => {
    pruneOnce(sql, retentionSeconds).then(
      (n) => n > 0 && log.info({ pruned: n }, 'old events pruned'),
      (err) => log.warn({ err: (err as Error).message }, 'pruning events failed; will retry'),
    );
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
