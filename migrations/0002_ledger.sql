-- One row per request, whatever its outcome. Inserted by the ledger queue consumer,
-- idempotent on request_id so a redelivered batch never double-counts.
CREATE TABLE ledger (
  request_id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  tenant_id TEXT,
  key_id TEXT,
  endpoint TEXT NOT NULL,
  task TEXT NOT NULL DEFAULT 'default',
  tier TEXT,
  model TEXT,
  provider TEXT,
  cache TEXT NOT NULL DEFAULT 'bypass',
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  saved_usd REAL NOT NULL DEFAULT 0,
  latency_ms REAL NOT NULL DEFAULT 0,
  ttfb_ms REAL,
  status INTEGER NOT NULL,
  error_code TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  route_reason TEXT,
  escalated_from TEXT,
  degraded TEXT,
  stream INTEGER NOT NULL DEFAULT 0,
  detail_json TEXT
);
CREATE INDEX ledger_tenant_ts ON ledger(tenant_id, ts);
CREATE INDEX ledger_ts ON ledger(ts);
