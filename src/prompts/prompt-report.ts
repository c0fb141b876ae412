/** One version's figures, from the ledger rows it served. */
export interface VersionFigures {
  version: number;
  requests: number;
  errors: number;
  cost_usd: number;
  cost_per_request_usd: number;
  latency_ms: { p50: number | null; p95: number | null };
  escalation_rate: number;
  cache_hit_rate: number;
  /** Share of POST /v1/feedback labels that said good; null until one arrives. */
  feedback_score: number | null;
  feedback_count: number;
}

/**
 * Nearest-rank latency percentiles (rank ceil(p·n), as in the profiles report) over answered requests,
 * and rates over all of them. Feedback labels live on the learned router's samples (route_samples),
 * keyed by request id, so only `model: "auto"` requests can carry one.
 */
const REPORT_SQL = `
  WITH base AS (
    SELECT l.request_id, l.prompt_version AS v, l.status, l.cost_usd, l.latency_ms, l.cache, l.escalated_from,
           (SELECT rs.good FROM route_samples rs WHERE rs.tenant_id = l.tenant_id AND rs.id = l.request_id AND rs.source = 'feedback') AS good
      FROM ledger l WHERE l.tenant_id = ? AND l.prompt_name = ?
  ), ranked AS (
    SELECT v, latency_ms AS lat, ROW_NUMBER() OVER (PARTITION BY v ORDER BY latency_ms) AS r, COUNT(*) OVER (PARTITION BY v) AS n
      FROM base WHERE status < 400
  ), pct AS (
    SELECT v, MAX(CASE WHEN r = (n + 1) / 2 THEN lat END) AS p50, MAX(CASE WHEN r = (95 * n + 99) / 100 THEN lat END) AS p95
      FROM ranked GROUP BY v
  )
  SELECT b.v AS version, COUNT(*) AS requests, SUM(b.status >= 400) AS errors, SUM(b.cost_usd) AS cost_usd,
         SUM(b.escalated_from IS NOT NULL) AS escalated, SUM(b.cache IN ('exact', 'semantic', 'stale')) AS hits,
         AVG(b.good) AS feedback_score, COUNT(b.good) AS feedback_count, p.p50, p.p95
    FROM base b LEFT JOIN pct p ON p.v = b.v GROUP BY b.v ORDER BY b.v`;

interface ReportRow {
  version: number;
  requests: number;
  errors: number;
  cost_usd: number;
  escalated: number;
  hits: number;
  feedback_score: number | null;
  feedback_count: number;
  p50: number | null;
  p95: number | null;
}

export async function promptReport(db: D1Database, tenantId: string, name: string): Promise<VersionFigures[]> {
  const { results } = await db.prepare(REPORT_SQL).bind(tenantId, name).all<ReportRow>();
  return results.map((row) => ({
    version: row.version,
    requests: row.requests,
    errors: row.errors,
    cost_usd: row.cost_usd,
    cost_per_request_usd: row.requests ? row.cost_usd / row.requests : 0,
    latency_ms: { p50: row.p50, p95: row.p95 },
    escalation_rate: row.requests ? row.escalated / row.requests : 0,
    cache_hit_rate: row.requests ? row.hits / row.requests : 0,
    feedback_score: row.feedback_score,
    feedback_count: row.feedback_count,
  }));
}
