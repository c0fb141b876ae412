// What POST /v1/feedback does to the semantic cache. A wrong hit evicts the entry that served it
// (and the alias written under the asking request's own key) and tightens the entries around it;
// a confirmed hit lets its entry reach a little further. See entry-feedback.ts for the bounds.
import type { Embedder } from "../vectors/embedder";
import { vectorStore } from "../vectors/vector-store";
import { confirmEntry, countFeedback, tightenEntry } from "./entry-feedback";
import { evictExact, lookupExact } from "./exact-cache";
import { candidateThreshold, embedQuestion, type SemanticProvenance } from "./semantic-cache";

const NEIGHBOURS = 8;

export type CacheFeedbackOutcome = "evicted" | "confirmed" | "not_a_semantic_hit";

function provenance(detailJson: string | null): SemanticProvenance | undefined {
  if (!detailJson) return undefined;
  try {
    const detail = JSON.parse(detailJson) as { semantic_hit?: SemanticProvenance };
    return typeof detail.semantic_hit?.key === "string" && typeof detail.semantic_hit.scope === "string" ? detail.semantic_hit : undefined;
  } catch {
    return undefined;
  }
}

/** Undefined when the request is not this tenant's (or has no ledger row yet). */
export async function applyCacheFeedback(
  env: Env,
  tenantId: string,
  requestId: string,
  verdict: "wrong" | "right",
  embedder: Embedder | undefined,
): Promise<CacheFeedbackOutcome | undefined> {
  const row = await env.DB.prepare("SELECT cache, detail_json FROM ledger WHERE request_id = ? AND tenant_id = ?")
    .bind(requestId, tenantId)
    .first<{ cache: string | null; detail_json: string | null }>();
  if (!row) return undefined;
  const hit = row.cache === "semantic" ? provenance(row.detail_json) : undefined;
  if (!hit) return "not_a_semantic_hit";
  if (verdict === "right") {
    await Promise.all([confirmEntry(env.CACHE_KV, tenantId, hit.key), countFeedback(env.CACHE_KV, tenantId, "confirmed")]);
    return "confirmed";
  }
  const entry = await lookupExact(env.CACHE_KV, tenantId, hit.key);
  const store = vectorStore(env);
  const evicted = [hit.key, ...(hit.alias ? [hit.alias] : [])];
  await Promise.all([
    ...evicted.map((key) => evictExact(env.CACHE_KV, tenantId, key)),
    store.remove(tenantId, evicted),
    countFeedback(env.CACHE_KV, tenantId, "wrong"),
  ]);
  // Entries near the one that misfired are likely to misfire on the same kind of query.
  if (entry?.question && embedder?.id === hit.embedder) {
    const { vector } = await embedQuestion(embedder, tenantId, entry.question);
    if (vector) {
      const cut = Math.min(hit.score, candidateThreshold(embedder));
      const near = (await store.query(tenantId, vector, hit.scope, NEIGHBOURS).catch(() => [])).filter((m) => m.score >= cut && !evicted.includes(m.id));
      await Promise.all(near.map((m) => tightenEntry(env.CACHE_KV, tenantId, m.id)));
    }
  }
  return "evicted";
}
