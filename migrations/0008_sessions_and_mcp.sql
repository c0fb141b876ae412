-- Agent sessions: a ledger row names the session it belongs to (model and tool calls alike).
ALTER TABLE ledger ADD COLUMN session_id TEXT;
CREATE INDEX ledger_session ON ledger(tenant_id, session_id) WHERE session_id IS NOT NULL;

-- The tool gateway: a tenant's upstream MCP servers, with their allow-list and per-tool policy.
CREATE TABLE mcp_servers (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  -- Sent to the upstream on every call (e.g. its own Authorization); never shown back in full.
  headers_json TEXT NOT NULL DEFAULT '{}',
  -- NULL: every tool the upstream lists is allowed; a JSON array: only those.
  allowed_tools_json TEXT,
  tools_json TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, name)
);
