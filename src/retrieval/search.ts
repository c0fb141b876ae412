import type { ChatContext } from "../pipeline/chat-types";
import type { MetadataFilter } from "../vectors/metadata-filter";
import { vectorStore } from "../vectors/vector-store";
import type { Collection } from "./collection-store";
import { embedAsSpend } from "./collection-embedder";
import type { RetrievedChunk } from "./context-packing";
import { normaliseQuery, readRetrieval, retrievalKey, writeRetrieval } from "./retrieval-cache";
import { CHUNK_FIELDS, collectionScope } from "./chunk-records";

export interface SearchInput {
  query: string;
  /** Already capped by the tenant's policy. */
  topK: number;
  filter?: MetadataFilter;
  minScore?: number;
}

export interface SearchOutcome {
  chunks: RetrievedChunk[];
  cache: "hit" | "miss";
  costUsd: number;
  version: number;
}

/** The user's metadata, without the fields the gateway itself keeps on a chunk. */
function userMetadata(metadata: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !CHUNK_FIELDS.has(key)));
}

/**
 * Top-k chunks for a query. The retrieval cache answers a repeat (same collection version, normalised
 * query, top_k, filter and min_score) with no embedding and no vector search; a miss embeds the query
 * as admitted spend (its row is `ctx.ledger`'s) and searches with the filter inside the search.
 */
export async function searchCollection(ctx: ChatContext, collection: Collection, input: SearchInput): Promise<SearchOutcome> {
  const { env, tenant } = ctx;
  const query = normaliseQuery(input.query);
  const key = await retrievalKey({ tenantId: tenant.tenantId, collectionId: collection.id, version: collection.version, query, topK: input.topK, filter: input.filter, minScore: input.minScore });
  const cached = await ctx.stage("retrieval-cache", () => readRetrieval(env.CACHE_KV, key));
  if (cached) {
    Object.assign(ctx.ledger.event, { cache: "exact", model: collection.embedding_model });
    return { chunks: cached, cache: "hit", costUsd: 0, version: collection.version };
  }
  // Queries share the semantic cache's embedding scope: the same question is embedded once for both.
  const spend = await embedAsSpend(ctx, collection.embedding_model, [query], `q:${tenant.tenantId}`);
  const vector = spend.vectors[0] ?? [];
  const matches = await ctx.stage("search", () => vectorStore(env).query(tenant.tenantId, vector, collectionScope(collection.id), input.topK, { filter: input.filter, returnMetadata: true }));
  const chunks = matches
    .filter((m) => input.minScore === undefined || m.score >= input.minScore)
    .map((m): RetrievedChunk => {
      const metadata = m.metadata ?? {};
      return { id: m.id, document_id: String(metadata.doc_id ?? ""), chunk: Number(metadata.chunk ?? 0), score: m.score, text: String(metadata.text ?? ""), metadata: userMetadata(metadata) };
    });
  ctx.ledger.event.cache = "miss";
  await writeRetrieval(env.CACHE_KV, key, chunks);
  return { chunks, cache: "miss", costUsd: spend.costUsd, version: collection.version };
}
