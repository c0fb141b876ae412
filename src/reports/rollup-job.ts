import { RAW_MEASURES } from "./ledger-aggregate";
import { DAY_MS, dayKey, startOfDay } from "./report-range";

/** How far back the daily run checks rolled days for late ledger rows (queue retries, dead-letter replays). */
const RECHECK_DAYS = 35;
/** Bounds one cron run on a large backlog (first deploy on an old ledger); the next run continues. */
const MAX_DAYS_PER_RUN = 60;

const ROLLUP_INSERT = `INSERT INTO ledger_daily (day, tenant_id, task, tier, model, cache, ${Object.keys(RAW_MEASURES).join(", ")})
  SELECT ?1, COALESCE(tenant_id, ''), task, COALESCE(tier, ''), COALESCE(model, ''), cache, ${Object.values(RAW_MEASURES).join(", ")}
    FROM ledger WHERE ts >= ?2 AND ts < ?3
   GROUP BY COALESCE(tenant_id, ''), task, COALESCE(tier, ''), COALESCE(model, ''), cache`;

// The WHERE clause is what lets SQLite read ON CONFLICT as the upsert, not as a join constraint.
const MARK_ROLLED = `INSERT INTO rollup_days (day, ledger_rows, rolled_at)
  SELECT ?1, COUNT(*), ?4 FROM ledger WHERE ts >= ?2 AND ts < ?3
  ON CONFLICT (day) DO UPDATE SET ledger_rows = excluded.ledger_rows, rolled_at = excluded.rolled_at
  RETURNING ledger_rows`;

/** Re-rolls one UTC day. One D1 batch is one transaction: a report never sees a half-written day. */
export async function rollupDay(db: D1Database, day: string, now = Date.now()): Promise<number> {
  const from = Date.parse(`${day}T00:00:00Z`);
  const to = from + DAY_MS;
  if (to > startOfDay(now)) throw new Error(`cannot roll up ${day}: only whole past days are rolled up`);
  const [, , marked] = await db.batch<{ ledger_rows: number }>([
    db.prepare("DELETE FROM ledger_daily WHERE day = ?").bind(day),
    db.prepare(ROLLUP_INSERT).bind(day, from, to),
    db.prepare(MARK_ROLLED).bind(day, from, to, now),
  ]);
  const rows = Number(marked?.results[0]?.ledger_rows ?? 0);
  return rows;
}

export interface RollupRun {
  rolled: { day: string; ledger_rows: number }[];
  /** Days still waiting because this run hit its per-run bound. */
  remaining: number;
}

/**
 * Finds past days whose rollup is missing or stale and re-rolls them. A day is stale when its ledger
 * row count differs from the count it was rolled from; the ledger is append-only, so that is enough.
 */
export async function runRollups(db: D1Database, now = Date.now(), options: { from?: string; force?: boolean } = {}): Promise<RollupRun> {
  const today = startOfDay(now);
  const first = await db.prepare("SELECT MIN(ts) AS ts FROM ledger").first<{ ts: number | null }>();
  if (first?.ts == null) return { rolled: [], remaining: 0 };
  const backlogStart = options.from ? Date.parse(`${options.from}T00:00:00Z`) : startOfDay(first.ts);
  const start = Math.max(startOfDay(first.ts), backlogStart);
  if (start >= today) return { rolled: [], remaining: 0 };

  const [counts, done] = await db.batch<{ day: string; n: number; ledger_rows: number }>([
    db.prepare("SELECT date(ts / 1000, 'unixepoch') AS day, COUNT(*) AS n FROM ledger WHERE ts >= ? AND ts < ? GROUP BY day").bind(Math.max(start, today - RECHECK_DAYS * DAY_MS), today),
    db.prepare("SELECT day, ledger_rows FROM rollup_days WHERE day >= ?").bind(dayKey(start)),
  ]);
  const counted = new Map((counts?.results ?? []).map((r) => [r.day, Number(r.n)]));
  const rolledRows = new Map((done?.results ?? []).map((r) => [r.day, Number(r.ledger_rows)]));

  const due: string[] = [];
  for (let day = start; day < today; day += DAY_MS) {
    const key = dayKey(day);
    const previous = rolledRows.get(key);
    // Older than the recheck window: trust an existing rollup; roll it only if it was never rolled.
    const stale = counted.has(key) || day >= today - RECHECK_DAYS * DAY_MS ? previous !== (counted.get(key) ?? 0) : previous === undefined;
    if (options.force || stale) due.push(key);
  }
  const rolled: RollupRun["rolled"] = [];
  for (const day of due.slice(0, MAX_DAYS_PER_RUN)) rolled.push({ day, ledger_rows: await rollupDay(db, day, now) });
  return { rolled, remaining: Math.max(0, due.length - MAX_DAYS_PER_RUN) };
}

/** The daily cron entry (src/scheduled.ts). */
export async function dailyRollupJob(env: Env, now: Date): Promise<RollupRun> {
  const run = await runRollups(env.DB, now.getTime());
  console.log(JSON.stringify({ level: "info", msg: "ledger rollup", days: run.rolled.length, remaining: run.remaining, rows: run.rolled.reduce((n, d) => n + d.ledger_rows, 0) }));
  return run;
}
