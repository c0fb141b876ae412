-- Retrieval: a tenant's document collections. Chunks live in the tenant's vector namespace (scope
-- `collection:<id>`); D1 holds what the search cannot: which chunks each document has, and the
-- collection's version, which every retrieval-cache key names (a re-ingest bumps it).
CREATE TABLE collections (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  embedding_model TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,
  document_count INTEGER NOT NULL DEFAULT 0,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX collections_tenant_name ON collections(tenant_id, name);

CREATE TABLE collection_documents (
  collection_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  -- SHA-256 of the text and metadata: an unchanged document is skipped on re-ingest.
  content_hash TEXT NOT NULL,
  chunk_ids_json TEXT NOT NULL,
  metadata_json TEXT,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (collection_id, doc_id)
);

-- Large ingests run on the batch lane; the documents wait in R2, progress is kept here.
CREATE TABLE collection_ingests (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  key_id TEXT,
  collection_id TEXT NOT NULL,
  status TEXT NOT NULL,
  documents_total INTEGER NOT NULL,
  documents_done INTEGER NOT NULL DEFAULT 0,
  chunks_written INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX collection_ingests_collection ON collection_ingests(collection_id, created_at);
