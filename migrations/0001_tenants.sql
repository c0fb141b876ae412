-- Tenants, their API keys (hashes only) and their configuration. D1 is the source of truth;
-- KV and an isolate cache read through it.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  policy_json TEXT NOT NULL DEFAULT '{}',
  limits_json TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  key_hash TEXT NOT NULL UNIQUE,
  -- The first characters of the key, so an operator can tell keys apart without the secret.
  key_prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE budgets (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  scope TEXT NOT NULL,
  period TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
  limit_usd REAL NOT NULL,
  alert_at REAL NOT NULL DEFAULT 0.8,
  degrade_at REAL NOT NULL DEFAULT 0.9,
  throttle_at REAL NOT NULL DEFAULT 0.95,
  PRIMARY KEY (tenant_id, scope, period)
);
