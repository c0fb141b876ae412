-- Daily aggregates of the ledger, written by the daily cron (src/reports/rollup-job.ts). Reports read them
-- for past days and the raw ledger for today, so a 30-day report reads thousands of rows, not millions.
-- The grain keeps every report dimension (tenant, task, tier, model, cache kind) so each report is a
-- plain SUM over it. Missing values are '' rather than NULL: NULLs would slip past the primary key.
CREATE TABLE ledger_daily (
  day TEXT NOT NULL,              -- UTC date, YYYY-MM-DD
  tenant_id TEXT NOT NULL,
  task TEXT NOT NULL,
  tier TEXT NOT NULL,
  model TEXT NOT NULL,
  cache TEXT NOT NULL,
  requests INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  saved_usd REAL NOT NULL,
  escalations INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  latency_ms_sum REAL NOT NULL,
  PRIMARY KEY (day, tenant_id, task, tier, model, cache)
) WITHOUT ROWID;
CREATE INDEX ledger_daily_tenant_day ON ledger_daily(tenant_id, day);

-- Which days are rolled up, and from how many ledger rows: a report only trusts a day listed here, and
-- the cron re-rolls a day whose ledger count has changed since (late queue deliveries, replays).
CREATE TABLE rollup_days (
  day TEXT PRIMARY KEY,
  ledger_rows INTEGER NOT NULL,
  rolled_at INTEGER NOT NULL
);
