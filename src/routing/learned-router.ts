import { semanticQuestion } from "../cache/cache-key";
import type { Embedder } from "../vectors/embedder";
import { embedQuestion } from "../cache/semantic-cache";
import { vectorStore } from "../vectors/vector-store";
import type { Tier } from "../config/model-catalog";
import type { ChatRequest } from "../validate/chat-request";
import { estimateTier, type LabelledNeighbour, TIER_ORDER } from "./knn-router";
import { LEARNED_ROUTER } from "./learned-router-weights";
import type { TierSuggestion } from "./route-plan";
import { complexityOf } from "./tier-suggestion";

/**
 * Below this many labelled samples the complexity score decides: the in-domain learning curve of
 * `npm run eval:routing` shows the learned router beating it only from here on.
 */
export const MIN_LABELLED: number = LEARNED_ROUTER.min_labelled ?? Number.POSITIVE_INFINITY;
const TOP_K = LEARNED_ROUTER.k;
/** The expected quality a tier must reach to be chosen (no per-tenant setting yet). */
export const QUALITY_TARGET = 0.7;
// Relative price of a call per tier (the catalog's input prices, fast = 1), for quality per dollar.
const TIER_COST: Record<Tier, number> = { fast: 1, balanced: 6.7, powerful: 33 };
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
  const estimates = tierQualities(complexityOf(req), neighbours);
  if (estimates.every((e) => e.evidence === 0)) return undefined;
  const choice = chooseTier(estimates, QUALITY_TARGET);
  return { tier: choice.tier, reason: `learned:${choice.quality.toFixed(2)}` };
}

export interface TierQuality {
  tier: Tier;
  /** Calibrated P(this tier's answer is good enough). */
  quality: number;
  evidence: number;
}

/** Each tier's expected quality: the shipped logistic model over the complexity score and the tier's kNN vote. */
export function tierQualities(complexity: number, neighbours: readonly LabelledNeighbour[]): TierQuality[] {
  const useful = neighbours.filter((n) => (n.similarity ?? 0) >= MIN_SIMILARITY);
  const similarity = useful.reduce((a, n) => a + (n.similarity ?? 0), 0) / Math.max(1, useful.length);
  const [wComplexity = 0, wFail = 0, wSimilarity = 0] = LEARNED_ROUTER.weights;
  return TIER_ORDER.map((tier) => {
    const { pGood, evidence } = estimateTier(null, useful, tier, { k: TOP_K, assumeMonotone: true });
    const z = LEARNED_ROUTER.bias + wComplexity * complexity + wFail * (1 - pGood) + wSimilarity * similarity;
    return { tier, quality: 1 - 1 / (1 + Math.exp(-z)), evidence };
  });
}

/** The best expected quality per dollar among tiers that reach the target; if none does, the best quality. */
export function chooseTier(estimates: readonly TierQuality[], target: number): TierQuality {
  const reaching = estimates.filter((e) => e.quality >= target);
  const pool = reaching.length ? reaching : estimates;
  const value = (e: TierQuality) => (reaching.length ? e.quality / TIER_COST[e.tier] : e.quality);
  return pool.reduce((best, e) => (value(e) > value(best) ? e : best));
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
