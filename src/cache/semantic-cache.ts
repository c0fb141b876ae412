import type { LedgerEvent } from "../ledger/ledger-event";
import type { Embedder } from "../vectors/embedder";
import type { VectorMatch, VectorStore } from "../vectors/vector-store";
import { entryReach } from "./entry-feedback";
import { type CacheEntry, lookupExact } from "./exact-cache";
import { nearMissFlags } from "./near-miss-guard";
import { FEATURE_NAMES, pairFeatures } from "./pair-features";
import { checkWeights, type PairVectors, type Verdict, type VerifierVeto, type VerifierWeights, verdictFor } from "./semantic-verifier";
import { VECTOR_VERIFIERS, VERIFIER } from "./verifier-weights";
import { base64ToFloat32, float32ToBase64 } from "../vectors/vector-base64";

checkWeights(VERIFIER, FEATURE_NAMES);
for (const model of Object.values(VECTOR_VERIFIERS)) checkWeights(model, FEATURE_NAMES);

/**
 * What the semantic lookup did, sent back as `x-tollgate-semantic`:
 * - `hit`: served from a paraphrase's entry;
 * - `miss`: nothing in scope above the candidate cosine;
 * - `guarded`: candidates were found but the verifier (or a near-miss veto) rejected them all;
 * - `unavailable`: no embedder is configured, or it or the vector store failed (the request is served normally);
 * - `off`: the policy or the request turned semantic lookup off, or the request has no plain-text last user turn.
 */
export type SemanticStatus = "hit" | "miss" | "guarded" | "unavailable" | "off";

// A few candidates, not one: the nearest may be rejected while a lower one is a true paraphrase.
const TOP_K = 4;
const EMBED_TIMEOUT_MS = 2_500;

export interface SemanticQuery {
  kv: KVNamespace;
  store: VectorStore;
  embedder: Embedder;
  tenantId: string;
  question: string;
  scope: string;
  /** The cosine a vector match needs to be shown to the verifier (recall-oriented). */
  threshold: number;
  /** The request's exact key: a hit is aliased under it, so wrong-hit feedback must evict it too. */
  requestKey?: string;
  /** The request's ledger row: the query embedding's cost and the hit's provenance go there. */
  event?: LedgerEvent;
}

export interface SemanticResult {
  status: SemanticStatus;
  hit?: { entry: CacheEntry; key: string; score: number; p: number };
  /** The question's vector, kept so that storing the answer later does not embed it twice. */
  vector?: number[];
  rejected?: { reason: VerifierVeto | "verifier"; score: number; p: number };
  /** Why it was unavailable, for the ledger. */
  error?: string;
}

/** What a semantic hit records in the ledger's detail, for POST /v1/feedback to act on. */
export interface SemanticProvenance {
  key: string;
  alias: string | null;
  scope: string;
  embedder: string;
  score: number;
  p: number;
  needed: number;
}

/** The model trained on this embedder's vectors, if there is one (then entries carry their vector). */
export function vectorVerifier(embedderId: string | undefined): VerifierWeights | undefined {
  return embedderId ? VECTOR_VERIFIERS[embedderId] : undefined;
}

const fits = (model: VerifierWeights, v: ArrayLike<number> | undefined) => v !== undefined && v.length === model.vector?.abs_diff.length;

/**
 * The verifier's decision on a (query, cached question) pair, the entry's feedback shift applied.
 * An embedder with a vector model is judged by it when both vectors are at hand and have its
 * dimensions; otherwise by the lexical model, and only above the lexical model's own (higher)
 * candidate cut, the range it was tuned on.
 */
export function verifyPair(query: string, cached: string, cosine: number, shift = 0, embedderId?: string, vectors?: PairVectors): Verdict {
  const model = vectorVerifier(embedderId);
  if (model && vectors && fits(model, vectors.query) && fits(model, vectors.cached)) {
    return verdictFor(pairFeatures(query, cached, cosine, nearMissFlags(query, cached), model.idf), model, shift, vectors);
  }
  const verdict = verdictFor(pairFeatures(query, cached, cosine, nearMissFlags(query, cached), VERIFIER.idf), VERIFIER, shift);
  const lexicalCut = model && embedderId ? VERIFIER.candidate_cosine[embedderId] : undefined;
  return lexicalCut !== undefined && cosine < lexicalCut ? { ...verdict, accept: false } : verdict;
}

/** The cosine a vector match needs before the verifier looks at it: the trained candidate cut, or the embedder's calibrated threshold. */
export function candidateThreshold(embedder: Embedder): number {
  return (vectorVerifier(embedder.id) ?? VERIFIER).candidate_cosine[embedder.id] ?? embedder.defaultThreshold;
}

// A question's vector travels with its cache entry as base64 float32 (2.7 kB for 512 dimensions),
// so the verifier reads the candidate's vector with the entry instead of embedding it again.
export function encodeVector(embedder: string, vector: readonly number[]): { embedder: string; values: string } {
  return { embedder, values: float32ToBase64(vector) };
}

function decodeVector(stored: CacheEntry["question_vector"], embedder: string): Float32Array | undefined {
  return stored && stored.embedder === embedder ? base64ToFloat32(stored.values) : undefined;
}

// The model was trained on unit vectors; an embedder that does not normalise is scaled here.
function unit(v: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] ?? 0) ** 2;
  const n = Math.sqrt(s) || 1;
  return Float64Array.from({ length: v.length }, (_, i) => (v[i] ?? 0) / n);
}

/** The cached question's vector: from its entry, else re-embedded (normally an embedding-cache hit). */
async function cachedVector(q: SemanticQuery, entry: CacheEntry & { question: string }): Promise<ArrayLike<number> | undefined> {
  const stored = decodeVector(entry.question_vector, q.embedder.id);
  if (stored) return stored;
  const { vector, costUsd } = await embedQuestion(q.embedder, q.tenantId, entry.question);
  if (q.event) q.event.cost_usd += costUsd;
  return vector;
}

/** The question's vector, cached per tenant (see embedding-cache.ts for why not shared), and what embedding it cost. */
export async function embedQuestion(embedder: Embedder, tenantId: string, question: string): Promise<{ vector?: number[]; costUsd: number; error?: string }> {
  try {
    const result = await embedder.embedPriced(question, AbortSignal.timeout(EMBED_TIMEOUT_MS), `q:${tenantId}`);
    return result.ok ? { vector: result.value.vector, costUsd: result.value.costUsd } : { costUsd: 0, error: result.error.message.slice(0, 200) };
  } catch (error) {
    return { costUsd: 0, error: error instanceof Error ? error.message.slice(0, 200) : "embedder failed" };
  }
}

/** Nearest entries in the tenant's namespace and scope above the candidate cosine, the first the verifier accepts. */
export async function lookupSemantic(q: SemanticQuery): Promise<SemanticResult> {
  const { vector, costUsd, error } = await embedQuestion(q.embedder, q.tenantId, q.question);
  // The lookup's embedding is part of what this request cost, hit or miss.
  if (q.event) q.event.cost_usd += costUsd;
  if (!vector) return { status: "unavailable", error };
  let matches: VectorMatch[];
  try {
    matches = await q.store.query(q.tenantId, vector, q.scope, TOP_K);
  } catch (failure) {
    return { status: "unavailable", vector, error: `vector store: ${failure instanceof Error ? failure.message.slice(0, 200) : "failed"}` };
  }
  const candidates = matches.filter((m) => m.score >= q.threshold);
  const loaded = await Promise.all(
    candidates.map(async (match) => {
      const [entry, reach] = await Promise.all([lookupExact(q.kv, q.tenantId, match.id), entryReach(q.kv, q.tenantId, match.id)]);
      return { match, entry, reach };
    }),
  );
  let rejected: SemanticResult["rejected"];
  const model = vectorVerifier(q.embedder.id);
  const queryUnit = model && fits(model, vector) ? unit(vector) : undefined;
  for (const { match, entry, reach } of loaded) {
    if (!entry?.question) continue;
    const other = queryUnit ? await cachedVector(q, { ...entry, question: entry.question }) : undefined;
    const vectors = queryUnit && other && other.length === queryUnit.length ? { query: queryUnit, cached: unit(other) } : undefined;
    const verdict = verifyPair(q.question, entry.question, match.score, reach.shift, q.embedder.id, vectors);
    if (!verdict.accept) {
      rejected ??= { reason: verdict.veto ?? "verifier", score: match.score, p: Number(verdict.p.toFixed(4)) };
      continue;
    }
    if (q.event) {
      const provenance: SemanticProvenance = {
        key: match.id,
        alias: q.requestKey ?? null,
        scope: q.scope,
        embedder: q.embedder.id,
        score: match.score,
        p: Number(verdict.p.toFixed(4)),
        needed: Number(verdict.needed.toFixed(4)),
      };
      q.event.detail = { ...q.event.detail, semantic_hit: provenance };
    }
    return { status: "hit", hit: { entry, key: match.id, score: match.score, p: verdict.p }, vector };
  }
  return { status: rejected ? "guarded" : "miss", vector, rejected };
}
