import type { Embedder } from "../vectors/embedder";
import { type CacheEntry, lookupExact } from "./exact-cache";
import { type NearMissReason, nearMissReason } from "./near-miss-guard";
import type { VectorMatch, VectorStore } from "../vectors/vector-store";

/**
 * What the semantic lookup did, sent back as `x-tollgate-semantic`:
 * - `hit`: served from a paraphrase's entry;
 * - `miss`: nothing in scope above the threshold;
 * - `guarded`: something was above the threshold but the near-miss guard vetoed it;
 * - `unavailable`: no embedder is configured, or it or the vector store failed (the request is served normally);
 * - `off`: the policy or the request turned semantic lookup off, or the request has no plain-text last user turn.
 */
export type SemanticStatus = "hit" | "miss" | "guarded" | "unavailable" | "off";

// A few candidates, not one: the best-scoring one may be vetoed by the guard while a lower one is a true paraphrase.
const TOP_K = 4;
const EMBED_TIMEOUT_MS = 2_500;

export interface SemanticQuery {
  kv: KVNamespace;
  store: VectorStore;
  embedder: Embedder;
  tenantId: string;
  question: string;
  scope: string;
  threshold: number;
}

export interface SemanticResult {
  status: SemanticStatus;
  hit?: { entry: CacheEntry; key: string; score: number };
  /** The question's vector, kept so that storing the answer later does not embed it twice. */
  vector?: number[];
  rejected?: { reason: NearMissReason; score: number };
  /** Why it was unavailable, for the ledger. */
  error?: string;
}

/** The question's vector, cached per tenant (see embedding-cache.ts for why not shared). */
export async function embedQuestion(embedder: Embedder, tenantId: string, question: string): Promise<{ vector?: number[]; error?: string }> {
  try {
    const result = await embedder.embed(question, AbortSignal.timeout(EMBED_TIMEOUT_MS), `q:${tenantId}`);
    return result.ok ? { vector: result.value } : { error: result.error.message.slice(0, 200) };
  } catch (error) {
    return { error: error instanceof Error ? error.message.slice(0, 200) : "embedder failed" };
  }
}

/** Nearest entries in the tenant's namespace and scope, above the threshold, that the guard lets through. */
export async function lookupSemantic(q: SemanticQuery): Promise<SemanticResult> {
  const { vector, error } = await embedQuestion(q.embedder, q.tenantId, q.question);
  if (!vector) return { status: "unavailable", error };
  let matches: VectorMatch[];
  try {
    matches = await q.store.query(q.tenantId, vector, q.scope, TOP_K);
  } catch (failure) {
    return { status: "unavailable", vector, error: `vector store: ${failure instanceof Error ? failure.message.slice(0, 200) : "failed"}` };
  }
  let rejected: SemanticResult["rejected"];
  for (const match of matches) {
    if (match.score < q.threshold) break;
    const entry = await lookupExact(q.kv, q.tenantId, match.id);
    if (!entry?.question) continue;
    const reason = nearMissReason(q.question, entry.question);
    if (reason) {
      rejected ??= { reason, score: match.score };
      continue;
    }
    return { status: "hit", hit: { entry, key: match.id, score: match.score }, vector };
  }
  return { status: rejected ? "guarded" : "miss", vector, rejected };
}
