/**
 * Where semantic-cache vectors live. Every call names the tenant's namespace, and every query is
 * filtered by scope before the top-K is taken, so a tenant can only ever match its own entries
 * written under the same system prompt, history, tools and model.
 */
export interface VectorMatch {
  /** The exact-cache key of the entry that holds the answer. */
  id: string;
  score: number;
}

export interface VectorRecord {
  id: string;
  values: number[];
  scope: string;
  /** Epoch ms after which the vector is useless (its KV entry is gone too). */
  expiresAt: number;
}

export interface VectorStore {
  readonly kind: "vectorize" | "local";
  query(namespace: string, vector: number[], scope: string, topK: number): Promise<VectorMatch[]>;
  upsert(namespace: string, records: VectorRecord[]): Promise<void>;
  remove(namespace: string, ids: string[]): Promise<void>;
}

/** Production: one Vectorize index, a namespace per tenant, a metadata index on `scope`. */
export class VectorizeStore implements VectorStore {
  readonly kind = "vectorize";
  constructor(private readonly index: VectorizeIndex) {}

  async query(namespace: string, vector: number[], scope: string, topK: number): Promise<VectorMatch[]> {
    const result = await this.index.query(vector, { topK, namespace, filter: { scope }, returnMetadata: "none" });
    return result.matches.map((m) => ({ id: m.id, score: m.score }));
  }

  async upsert(namespace: string, records: VectorRecord[]): Promise<void> {
    await this.index.upsert(records.map((r) => ({ id: r.id, values: r.values, namespace, metadata: { scope: r.scope, expires_at: r.expiresAt } })));
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

  query(namespace: string, vector: number[], scope: string, topK: number): Promise<VectorMatch[]> {
    return this.stub(namespace).query(namespace, vector, scope, topK);
  }

  upsert(namespace: string, records: VectorRecord[]): Promise<void> {
    return this.stub(namespace).upsert(namespace, records);
  }

  remove(namespace: string, ids: string[]): Promise<void> {
    return this.stub(namespace).remove(namespace, ids);
  }
}

export function vectorStore(env: Env): VectorStore {
  return env.VECTORIZE ? new VectorizeStore(env.VECTORIZE) : new LocalStore(env.LOCAL_VECTORS);
}
