-- Budget alerts: at most one per tenant, scope, period instance, kind and threshold (the UNIQUE key is
-- what makes "exactly once per threshold per period" hold under concurrency and redelivery).
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('threshold', 'velocity')),
  scope TEXT NOT NULL,
  period TEXT NOT NULL,
  period_key TEXT NOT NULL,
  threshold REAL NOT NULL,
  spent_usd REAL NOT NULL,
  limit_usd REAL NOT NULL,
  projected_usd REAL,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  UNIQUE (tenant_id, scope, period, period_key, kind, threshold)
);
CREATE INDEX alerts_tenant_created ON alerts(tenant_id, created_at);

-- Messages any queue gave up on. Kept, never dropped: listed and replayable through the admin API.
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  queue TEXT NOT NULL,
  tenant_id TEXT,
  body_json TEXT NOT NULL,
  reason TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  replayed_at INTEGER
);
CREATE INDEX dead_letters_created ON dead_letters(created_at);
