-- The learned router's memory: which tier answered a prompt and whether that was good enough.
-- The prompt itself is not stored here; its embedding lives in the vector store under the same id.
CREATE TABLE route_samples (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  tier TEXT NOT NULL CHECK (tier IN ('fast', 'balanced', 'powerful')),
  -- NULL until known: from POST /v1/feedback, or from an escalation (the cheaper tier failed the check).
  good INTEGER,
  source TEXT,
  created_at INTEGER NOT NULL,
  labelled_at INTEGER
);
CREATE INDEX route_samples_request ON route_samples(tenant_id, request_id);
CREATE INDEX route_samples_labelled ON route_samples(tenant_id, good);
