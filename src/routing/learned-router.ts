import { semanticQuestion } from "../cache/cache-key";
import type { Embedder } from "../vectors/embedder";
import { embedQuestion } from "../cache/semantic-cache";
import { vectorStore } from "../vectors/vector-store";
import type { Tier } from "../config/model-catalog";
import type { ChatRequest } from "../validate/chat-request";
import { decideTier, type LabelledNeighbour } from "./knn-router";
import type { TierSuggestion } from "./route-plan";

/** Below this many labelled samples a tenant's neighbours are noise: the complexity score decides. */
export const MIN_LABELLED = 20;
const TOP_K = 20;
/** Take a cheaper tier only when it is estimated good enough at least this often. */
const THRESHOLD = 0.7;
/** Less similar than this, a past prompt says nothing about this one. */
const MIN_SIMILARITY = 0.5;
const SCOPE = "router";
const COUNT_TTL_MS = 60_000;
const SAMPLE_TTL_MS = 180 * 24 * 3600 * 1000;

const namespace = (tenantId: string) => `${tenantId}:router`;
const labelledCounts = new Map<string, { n: number; at: number }>();

async function labelled(env: Env, tenantId: string, now = Date.now()): Promise<number> {
  const cached = labelledCounts.get(tenantId);
  if (cached && now - cached.at < COUNT_TTL_MS) return cached.n;
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM route_samples WHERE tenant_id = ? AND good IS NOT NULL").bind(tenantId).first<{ n: number }>();
  labelledCounts.set(tenantId, { n: row?.n ?? 0, at: now });
  return row?.n ?? 0;
}

/**
 * "Prompts like this one were (not) handled well by the cheaper tier": nearest labelled neighbours of
 * the question, by the tenant's own history only. Undefined when there is too little evidence or no
 * embedder, so routing falls back to the complexity score.
 */
export async function learnedTier(env: Env, tenantId: string, req: ChatRequest, embedder: Embedder | undefined): Promise<TierSuggestion | undefined> {
  const question = semanticQuestion(req);
  if (!embedder || !question || (await labelled(env, tenantId)) < MIN_LABELLED) return undefined;
  const { vector } = await embedQuestion(embedder, tenantId, question);
  if (!vector) return undefined;
  const matches = await vectorStore(env).query(namespace(tenantId), vector, SCOPE, TOP_K).catch(() => []);
  if (matches.length === 0) return undefined;
  const { results } = await env.DB.prepare(
    `SELECT id, tier, good FROM route_samples WHERE tenant_id = ? AND good IS NOT NULL AND id IN (${matches.map(() => "?").join(", ")})`,
  )
    .bind(tenantId, ...matches.map((m) => m.id))
    .all<{ id: string; tier: Tier; good: number }>();
  const score = new Map(matches.map((m) => [m.id, m.score]));
  const neighbours: LabelledNeighbour[] = results.map((r) => ({ vector: [], tier: r.tier, good: r.good === 1, similarity: score.get(r.id) ?? 0 }));
  const decision = decideTier(null, neighbours, { threshold: THRESHOLD, minSimilarity: MIN_SIMILARITY, assumeMonotone: true });
  return decision ? { tier: decision.tier, reason: `learned:${decision.confidence.toFixed(2)}` } : undefined;
}

export interface Sample {
  id: string;
  requestId: string;
  tier: Tier;
  good: boolean | null;
  source: "served" | "escalation";
}

/** Remembers what answered this prompt; labels arrive now (escalations) or later (feedback). */
export async function recordSamples(env: Env, tenantId: string, req: ChatRequest, embedder: Embedder | undefined, samples: Sample[], now = Date.now()): Promise<void> {
  const question = semanticQuestion(req);
  if (!embedder || !question || samples.length === 0) return;
  const { vector } = await embedQuestion(embedder, tenantId, question);
  if (!vector) return;
  const insert = env.DB.prepare(
    "INSERT OR IGNORE INTO route_samples (id, tenant_id, request_id, tier, good, source, created_at, labelled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  await env.DB.batch(samples.map((s) => insert.bind(s.id, tenantId, s.requestId, s.tier, s.good === null ? null : s.good ? 1 : 0, s.source, now, s.good === null ? null : now)));
  await vectorStore(env).upsert(namespace(tenantId), samples.map((s) => ({ id: s.id, values: vector, scope: SCOPE, expiresAt: now + SAMPLE_TTL_MS })));
  if (samples.some((s) => s.good !== null)) labelledCounts.delete(tenantId);
}

/** POST /v1/feedback: labels the sample of the tier that answered. False when the request is not this tenant's. */
export async function labelRequest(env: Env, tenantId: string, requestId: string, good: boolean, now = Date.now()): Promise<boolean> {
  const result = await env.DB.prepare("UPDATE route_samples SET good = ?, source = 'feedback', labelled_at = ? WHERE tenant_id = ? AND id = ?")
    .bind(good ? 1 : 0, now, tenantId, requestId)
    .run();
  labelledCounts.delete(tenantId);
  return result.meta.changes > 0;
}
