import { DurableObject } from "cloudflare:workers";
import { matchesFilter, type VectorMetadata } from "../src/vectors/metadata-filter";
import type { VectorMatch, VectorQueryOptions, VectorRecord } from "../src/vectors/vector-store";

// A namespace that grows past this drops its oldest vectors: the local store is for dev, tests and
// benchmarks, and an exact scan over a bounded set keeps queries in the low milliseconds.
const MAX_PER_NAMESPACE = 50_000;
const MAX_DIMS = 4096;

function unitVector(values: readonly number[]): Float32Array {
  let sum = 0;
  for (const x of values) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  return Float32Array.from(values, (x) => x / norm);
}

/**
 * The semantic cache's vector index where Vectorize does not exist (local dev, tests). SQLite holds
 * the vectors, cosine is computed exactly, and like Vectorize every call is confined to a namespace
 * and filtered by scope before the top-K. The gateway uses one object per tenant.
 */
export class LocalVectorStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS vectors (
      namespace TEXT NOT NULL,
      id TEXT NOT NULL,
      scope TEXT NOT NULL,
      vector BLOB NOT NULL,
      expires_at INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (namespace, id)
    )`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS vectors_scope ON vectors (namespace, scope)");
    // Objects created before vectors carried metadata (collection chunks) gain the column in place.
    const columns = this.sql.exec<{ name: string }>("PRAGMA table_info(vectors)").toArray();
    if (!columns.some((c) => c.name === "metadata")) this.sql.exec("ALTER TABLE vectors ADD COLUMN metadata TEXT");
  }

  async upsert(namespace: string, records: VectorRecord[]): Promise<void> {
    const now = Date.now();
    for (const record of records) {
      if (record.values.length === 0 || record.values.length > MAX_DIMS) continue;
      const blob = unitVector(record.values).buffer;
      this.sql.exec(
        "INSERT OR REPLACE INTO vectors (namespace, id, scope, vector, expires_at, created_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
        namespace,
        record.id,
        record.scope,
        blob,
        record.expiresAt,
        now,
        record.metadata ? JSON.stringify(record.metadata) : null,
      );
    }
    this.sql.exec("DELETE FROM vectors WHERE namespace = ? AND expires_at <= ?", namespace, now);
    const count = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM vectors WHERE namespace = ?", namespace).one().n;
    if (count > MAX_PER_NAMESPACE) {
      this.sql.exec(
        // Cache entries are rebuilt on demand; a collection's chunks are not, so they are never evicted.
        "DELETE FROM vectors WHERE namespace = ? AND id IN (SELECT id FROM vectors WHERE namespace = ? AND scope NOT LIKE 'collection:%' ORDER BY created_at LIMIT ?)",
        namespace,
        namespace,
        count - MAX_PER_NAMESPACE,
      );
    }
  }

  async query(namespace: string, vector: number[], scope: string, topK: number, options: VectorQueryOptions = {}): Promise<VectorMatch[]> {
    const q = unitVector(vector);
    const matches: VectorMatch[] = [];
    const rows = this.sql.exec<{ id: string; vector: ArrayBuffer; metadata: string | null }>(
      "SELECT id, vector, metadata FROM vectors WHERE namespace = ? AND scope = ? AND expires_at > ?",
      namespace,
      scope,
      Date.now(),
    );
    for (const row of rows) {
      const v = new Float32Array(row.vector);
      // Vectors of another dimension came from another embedder: never comparable.
      if (v.length !== q.length) continue;
      const metadata = options.filter || options.returnMetadata ? (JSON.parse(row.metadata ?? "{}") as VectorMetadata) : undefined;
      // Like Vectorize: the filter narrows the candidates before the top-K, never after.
      if (options.filter && metadata && !matchesFilter(metadata, options.filter)) continue;
      let dot = 0;
      for (let i = 0; i < v.length; i++) dot += (v[i] ?? 0) * (q[i] ?? 0);
      matches.push(options.returnMetadata && metadata ? { id: row.id, score: dot, metadata } : { id: row.id, score: dot });
    }
    return matches.sort((a, b) => b.score - a.score).slice(0, Math.max(1, Math.min(topK, 100)));
  }

  async remove(namespace: string, ids: string[]): Promise<void> {
    for (const id of ids) this.sql.exec("DELETE FROM vectors WHERE namespace = ? AND id = ?", namespace, id);
  }

  async count(namespace: string): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM vectors WHERE namespace = ?", namespace).one().n;
  }
}
