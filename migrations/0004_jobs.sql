-- Async work: jobs (single requests and batch items), batches, workflows and their runs.
-- Queue messages carry ids only; D1 holds the state, so a lost or repeated message never loses or
-- repeats work: every transition is a conditional UPDATE on the current status.

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT,
  -- Set for batch items; NULL for jobs submitted one by one.
  batch_id TEXT,
  custom_id TEXT,
  item_index INTEGER,
  lane TEXT NOT NULL CHECK (lane IN ('interactive', 'standard', 'batch')),
  status TEXT NOT NULL CHECK (status IN ('queued', 'deferred', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
  request_json TEXT NOT NULL,
  -- The x-tollgate-* hints (task, tier, cache, sensitive) and the sim fault header, as submitted.
  hints_json TEXT NOT NULL DEFAULT '{}',
  callback_url TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  deadline_at INTEGER,
  -- While running: past this instant the claim is considered lost and the sweep may take it back.
  lease_until INTEGER,
  -- When the last queue message for it was sent; NULL means "must be (re)sent" (outbox).
  enqueued_at INTEGER,
  result_json TEXT,
  error_json TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  callback_state TEXT CHECK (callback_state IN ('pending', 'delivered', 'failed')),
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_next_at INTEGER,
  callback_error TEXT
);
CREATE INDEX jobs_tenant_created ON jobs(tenant_id, created_at);
CREATE INDEX jobs_batch_item ON jobs(batch_id, item_index);
CREATE INDEX jobs_status_lease ON jobs(status, lease_until);
CREATE INDEX jobs_callback_due ON jobs(callback_state, callback_next_at);

-- One row per model call made for a job or a workflow step (owner_id = job id or "<run id>/<step>").
-- Costs are summed from here, so an attempt whose claim was taken over still counts exactly once.
CREATE TABLE work_attempts (
  owner_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  cost_usd REAL NOT NULL DEFAULT 0,
  model TEXT,
  tier TEXT,
  cache TEXT,
  error_code TEXT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  PRIMARY KEY (owner_id, attempt)
);

CREATE TABLE batches (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('deferred', 'released', 'cancelled')),
  off_peak INTEGER NOT NULL,
  completion_window_s INTEGER NOT NULL,
  total INTEGER NOT NULL,
  metadata_json TEXT,
  created_at INTEGER NOT NULL,
  deadline_at INTEGER NOT NULL,
  -- The latest release that still leaves time to finish inside the completion window.
  release_by INTEGER NOT NULL,
  released_at INTEGER,
  release_reason TEXT,
  cancelled_at INTEGER
);
CREATE INDEX batches_tenant_created ON batches(tenant_id, created_at);
CREATE INDEX batches_status ON batches(status, release_by);

CREATE TABLE workflows (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  definition_json TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE workflow_runs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT,
  workflow_name TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  -- A snapshot: redefining the workflow never changes a run already under way.
  definition_json TEXT NOT NULL,
  input_json TEXT NOT NULL,
  hints_json TEXT NOT NULL DEFAULT '{}',
  lane TEXT NOT NULL CHECK (lane IN ('interactive', 'standard', 'batch')),
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out')),
  error_json TEXT,
  created_at INTEGER NOT NULL,
  deadline_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX workflow_runs_tenant_created ON workflow_runs(tenant_id, created_at);
CREATE INDEX workflow_runs_status_deadline ON workflow_runs(status, deadline_at);

CREATE TABLE workflow_steps (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_until INTEGER,
  enqueued_at INTEGER,
  output TEXT,
  model TEXT,
  tier TEXT,
  cache TEXT,
  error_json TEXT,
  note TEXT,
  started_at INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (run_id, name)
);
CREATE INDEX workflow_steps_status_lease ON workflow_steps(status, lease_until);

-- Idempotency-Key for POST /v1/jobs, /v1/batches and workflow runs: same key + same body within 24 h
-- returns the same resource; same key + another body is a 409.
CREATE TABLE idempotency_keys (
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, kind, key)
);
