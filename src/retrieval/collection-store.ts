import { ulid } from "ulid";
import { GatewayError } from "../errors";

export interface Collection {
  id: string;
  tenant_id: string;
  name: string;
  embedding_model: string;
  version: number;
  document_count: number;
  chunk_count: number;
  created_at: number;
  updated_at: number;
}

export interface StoredDocument {
  doc_id: string;
  content_hash: string;
  chunk_ids: string[];
}

/** One document's new state after an ingest: its chunks replace whatever it had. */
export interface DocumentChange {
  docId: string;
  contentHash: string;
  chunkIds: string[];
  metadata: Record<string, unknown> | undefined;
}

export interface IngestRow {
  id: string;
  tenant_id: string;
  key_id: string | null;
  collection_id: string;
  status: "queued" | "running" | "completed" | "failed";
  documents_total: number;
  documents_done: number;
  chunks_written: number;
  cost_usd: number;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export async function createCollection(db: D1Database, tenantId: string, name: string, embeddingModel: string, now = Date.now()): Promise<Collection> {
  const id = `col_${ulid()}`;
  const taken = await db.prepare("SELECT id FROM collections WHERE tenant_id = ? AND name = ?").bind(tenantId, name).first();
  if (taken) throw new GatewayError(409, "invalid_request", `A collection named '${name.slice(0, 100)}' already exists`, "name");
  await db
    .prepare("INSERT INTO collections (id, tenant_id, name, embedding_model, version, document_count, chunk_count, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?)")
    .bind(id, tenantId, name, embeddingModel, now, now)
    .run();
  return { id, tenant_id: tenantId, name, embedding_model: embeddingModel, version: 0, document_count: 0, chunk_count: 0, created_at: now, updated_at: now };
}

/** Another tenant's collection is indistinguishable from one that does not exist. */
export async function getCollection(db: D1Database, tenantId: string, id: string): Promise<Collection> {
  const row = await db.prepare("SELECT * FROM collections WHERE id = ? AND tenant_id = ?").bind(id, tenantId).first<Collection>();
  if (!row) throw GatewayError.notFound("collection");
  return row;
}

export async function listCollections(db: D1Database, tenantId: string): Promise<Collection[]> {
  const { results } = await db.prepare("SELECT * FROM collections WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 1000").bind(tenantId).all<Collection>();
  return results;
}

/** Removes the collection's rows and returns every chunk id it had, for the vector store. */
export async function deleteCollection(db: D1Database, collection: Collection): Promise<string[]> {
  const { results } = await db.prepare("SELECT chunk_ids_json FROM collection_documents WHERE collection_id = ?").bind(collection.id).all<{ chunk_ids_json: string }>();
  await db.batch([
    db.prepare("DELETE FROM collection_documents WHERE collection_id = ?").bind(collection.id),
    db.prepare("DELETE FROM collection_ingests WHERE collection_id = ?").bind(collection.id),
    db.prepare("DELETE FROM collections WHERE id = ? AND tenant_id = ?").bind(collection.id, collection.tenant_id),
  ]);
  return results.flatMap((row) => JSON.parse(row.chunk_ids_json) as string[]);
}

/** The collection's document and chunk counts, recomputed in the same batch as the change. */
const recount = (db: D1Database, collectionId: string): D1PreparedStatement =>
  db
    .prepare(
      "UPDATE collections SET document_count = (SELECT COUNT(*) FROM collection_documents WHERE collection_id = ?1), chunk_count = (SELECT COALESCE(SUM(json_array_length(chunk_ids_json)), 0) FROM collection_documents WHERE collection_id = ?1) WHERE id = ?1",
    )
    .bind(collectionId);

/** One document's chunk ids, or null when the collection has no such document. */
export async function documentChunks(db: D1Database, collectionId: string, docId: string): Promise<string[] | null> {
  const row = await db.prepare("SELECT chunk_ids_json FROM collection_documents WHERE collection_id = ? AND doc_id = ?").bind(collectionId, docId).first<{ chunk_ids_json: string }>();
  return row ? (JSON.parse(row.chunk_ids_json) as string[]) : null;
}

/** Removes one document's row and bumps the collection's version, so no cached retrieval names its chunks again. */
export async function deleteDocument(db: D1Database, collection: Collection, docId: string, now = Date.now()): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM collection_documents WHERE collection_id = ? AND doc_id = ?").bind(collection.id, docId),
    db.prepare("UPDATE collections SET version = version + 1, updated_at = ? WHERE id = ? AND tenant_id = ?").bind(now, collection.id, collection.tenant_id),
    recount(db, collection.id),
  ]);
}

export async function storedDocuments(db: D1Database, collectionId: string, docIds: string[]): Promise<Map<string, StoredDocument>> {
  const found = new Map<string, StoredDocument>();
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < docIds.length; i += 90) {
    const slice = docIds.slice(i, i + 90);
    const { results } = await db
      .prepare(`SELECT doc_id, content_hash, chunk_ids_json FROM collection_documents WHERE collection_id = ? AND doc_id IN (${slice.map(() => "?").join(",")})`)
      .bind(collectionId, ...slice)
      .all<{ doc_id: string; content_hash: string; chunk_ids_json: string }>();
    for (const row of results) found.set(row.doc_id, { doc_id: row.doc_id, content_hash: row.content_hash, chunk_ids: JSON.parse(row.chunk_ids_json) as string[] });
  }
  return found;
}

/**
 * Records the changed documents and bumps the collection's version once, in one batch: the version
 * moves only after the new chunks are in the store, so a cached retrieval never names chunks that
 * are not there yet.
 */
export async function applyChanges(db: D1Database, collection: Collection, changes: DocumentChange[], now = Date.now()): Promise<number> {
  if (!changes.length) return collection.version;
  const version = collection.version + 1;
  await db.batch([
    ...changes.map((c) =>
      db
        .prepare(
          `INSERT INTO collection_documents (collection_id, tenant_id, doc_id, content_hash, chunk_ids_json, metadata_json, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (collection_id, doc_id) DO UPDATE SET content_hash = excluded.content_hash, chunk_ids_json = excluded.chunk_ids_json, metadata_json = excluded.metadata_json, version = excluded.version, updated_at = excluded.updated_at`,
        )
        .bind(collection.id, collection.tenant_id, c.docId, c.contentHash, JSON.stringify(c.chunkIds), c.metadata ? JSON.stringify(c.metadata) : null, version, now),
    ),
    db.prepare("UPDATE collections SET version = version + 1, updated_at = ? WHERE id = ? AND tenant_id = ?").bind(now, collection.id, collection.tenant_id),
    recount(db, collection.id),
  ]);
  const row = await db.prepare("SELECT version FROM collections WHERE id = ?").bind(collection.id).first<{ version: number }>();
  return row?.version ?? version;
}

export async function createIngest(db: D1Database, row: Pick<IngestRow, "tenant_id" | "key_id" | "collection_id" | "documents_total">, now = Date.now()): Promise<string> {
  const id = `ing_${ulid()}`;
  await db
    .prepare("INSERT INTO collection_ingests (id, tenant_id, key_id, collection_id, status, documents_total, created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)")
    .bind(id, row.tenant_id, row.key_id, row.collection_id, row.documents_total, now, now)
    .run();
  return id;
}

export async function getIngest(db: D1Database, tenantId: string, id: string): Promise<IngestRow | null> {
  return db.prepare("SELECT * FROM collection_ingests WHERE id = ? AND tenant_id = ?").bind(id, tenantId).first<IngestRow>();
}

export async function latestIngests(db: D1Database, collectionId: string): Promise<IngestRow[]> {
  const { results } = await db.prepare("SELECT * FROM collection_ingests WHERE collection_id = ? ORDER BY created_at DESC LIMIT 5").bind(collectionId).all<IngestRow>();
  return results;
}

export async function updateIngest(db: D1Database, id: string, fields: Partial<Pick<IngestRow, "status" | "documents_done" | "chunks_written" | "cost_usd" | "error">>, now = Date.now()): Promise<void> {
  const entries = Object.entries(fields);
  if (!entries.length) return;
  await db
    .prepare(`UPDATE collection_ingests SET ${entries.map(([k]) => `${k} = ?`).join(", ")}, updated_at = ? WHERE id = ?`)
    .bind(...entries.map(([, v]) => v ?? null), now, id)
    .run();
}
