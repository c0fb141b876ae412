-- Budget spend against the ledger, per tenant, budget scope and period: the last reconciliation of
-- each (one row per budget and period, replaced by every run), for GET /admin/reconciliation.
CREATE TABLE reconciliation (
  tenant_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  period TEXT NOT NULL,
  period_key TEXT NOT NULL,
  run_at INTEGER NOT NULL,
  spent_usd REAL NOT NULL,
  ledger_usd REAL NOT NULL,
  -- spent - ledger after the repairs below.
  difference_usd REAL NOT NULL,
  -- Lost settlements the ledger proved and added to spend in this run (count and dollars).
  repaired_count INTEGER NOT NULL DEFAULT 0,
  repaired_usd REAL NOT NULL DEFAULT 0,
  -- Ledger rows held in the budget object's outbox and forwarded to D1 by this run.
  forwarded INTEGER NOT NULL DEFAULT 0,
  -- What the run could not prove either way (live reservations, rows still on the ledger queue).
  unexplained_usd REAL NOT NULL DEFAULT 0,
  in_flight_usd REAL NOT NULL DEFAULT 0,
  detail_json TEXT,
  PRIMARY KEY (tenant_id, scope, period, period_key)
);
CREATE INDEX reconciliation_run ON reconciliation(tenant_id, run_at);
