import type { MetadataFilter, VectorMetadata } from "./metadata-filter";

/**
 * Where vectors live: semantic-cache entries and collection chunks. Every call names the tenant's
 * namespace, and every query is filtered by scope (and an optional metadata filter) before the top-K
 * is taken, so a tenant can only ever match its own entries, and a semantic-cache lookup never sees a
 * collection's chunks (their scope is `collection:<id>`) nor the reverse.
 */
export interface VectorMatch {
  /** The exact-cache key of the entry that holds the answer, or a collection chunk's id. */
  id: string;
  score: number;
  /** Only when the query asked for it. */
  metadata?: VectorMetadata;
}

export interface VectorRecord {
  id: string;
  values: number[];
  scope: string;
  /** Epoch ms after which the vector is useless (its KV entry is gone too). */
  expiresAt: number;
  /** Extra fields a filter can test and a query can return (`scope` and `expires_at` are reserved). */
  metadata?: VectorMetadata;
}

export interface VectorQueryOptions {
  /** Applied inside the search, before the top-K, like the scope. */
  filter?: MetadataFilter;
  returnMetadata?: boolean;
}

export interface VectorStore {
  readonly kind: "vectorize" | "local";
  query(namespace: string, vector: number[], scope: string, topK: number, options?: VectorQueryOptions): Promise<VectorMatch[]>;
  upsert(namespace: string, records: VectorRecord[]): Promise<void>;
  remove(namespace: string, ids: string[]): Promise<void>;
}

/**
 * Production: one Vectorize index, a namespace per tenant, metadata indexes on `scope` (both uses)
 * and on every collection metadata key a tenant filters on (see docs/retrieval.md).
 */
export class VectorizeStore implements VectorStore {
  readonly kind = "vectorize";
  constructor(private readonly index: VectorizeIndex) {}

  async query(namespace: string, vector: number[], scope: string, topK: number, options: VectorQueryOptions = {}): Promise<VectorMatch[]> {
    // Our filter is a subset of Vectorize's own syntax, so it passes through; scope always wins.
    const filter = { ...options.filter, scope } as VectorizeVectorMetadataFilter;
    const result = await this.index.query(vector, { topK, namespace, filter, returnMetadata: options.returnMetadata ? "all" : "none" });
    return result.matches.map((m) => (options.returnMetadata ? { id: m.id, score: m.score, metadata: scalars(m.metadata) } : { id: m.id, score: m.score }));
  }

  async upsert(namespace: string, records: VectorRecord[]): Promise<void> {
    await this.index.upsert(records.map((r) => ({ id: r.id, values: r.values, namespace, metadata: { ...r.metadata, scope: r.scope, expires_at: r.expiresAt } })));
  }

  async remove(_namespace: string, ids: string[]): Promise<void> {
    // Ids are exact-cache keys, which already hash the tenant, so they are unique across namespaces.
    await this.index.deleteByIds(ids);
  }
}

/** Local dev and tests: a SQLite Durable Object per tenant with exact cosine (no Vectorize simulator exists). */
export class LocalStore implements VectorStore {
  readonly kind = "local";
  constructor(private readonly ns: Env["LOCAL_VECTORS"]) {}

  private stub(namespace: string) {
    return this.ns.get(this.ns.idFromName(`tenant:${namespace}`));
  }

  query(namespace: string, vector: number[], scope: string, topK: number, options?: VectorQueryOptions): Promise<VectorMatch[]> {
    return this.stub(namespace).query(namespace, vector, scope, topK, options);
  }

  upsert(namespace: string, records: VectorRecord[]): Promise<void> {
    return this.stub(namespace).upsert(namespace, records);
  }

  remove(namespace: string, ids: string[]): Promise<void> {
    return this.stub(namespace).remove(namespace, ids);
  }
}

function scalars(metadata: Record<string, unknown> | undefined): VectorMetadata {
  const out: VectorMetadata = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value;
  }
  return out;
}

export function vectorStore(env: Env): VectorStore {
  return env.VECTORIZE ? new VectorizeStore(env.VECTORIZE) : new LocalStore(env.LOCAL_VECTORS);
}
