import { type CatalogModel, priceUsd, type Tier } from "../config/model-catalog";
import type { TenantPolicy } from "../config/tenant-policy";
import type { TenantContext } from "../hono-env";
import type { RequestLedger } from "../ledger/request-ledger";
import type { StreamSummary } from "../pipeline/metered-stream";
import type { ChatChunk, ChatCompletion, ResponseIds } from "../providers/provider-types";
import { tierRank } from "../routing/route-plan";
import type { ChatRequest } from "../validate/chat-request";
import type { RequestHints } from "../validate/request-hints";
import { StreamAssembler } from "./cached-stream";
import { exactKey, type KeyIdentity, scopeHash, semanticQuestion } from "./cache-key";
import type { Embedder } from "../vectors/embedder";
import { type CacheEntry, lookupExact, lookupStale, storeExact } from "./exact-cache";
import { answersInFull, lostInStream, type OptionalOutput } from "./optional-outputs";
import { candidateThreshold, embedQuestion, encodeVector, lookupSemantic, type SemanticStatus, vectorVerifier } from "./semantic-cache";
import { SingleFlight } from "./single-flight";
import { vectorStore } from "../vectors/vector-store";

export interface CacheContext {
  env: Env;
  tenant: TenantContext;
  hints: RequestHints;
  ledger: RequestLedger;
  waitUntil: (promise: Promise<unknown>) => void;
}

export interface CacheHit {
  kind: "exact" | "semantic";
  entry: CacheEntry;
  /** Cosine of a semantic hit. */
  score?: number;
  /** True when the answer came from a concurrent identical request rather than from KV. */
  joined?: boolean;
}

/** What this request may do with the cache, from the tenant's policy and its x-tollgate-cache header. */
export interface CacheRules {
  readExact: boolean;
  readSemantic: boolean;
  write: boolean;
  writeSemantic: boolean;
  ttlS: number;
}

// One per isolate: it is what makes concurrent identical misses share a call. A follower waits at
// most this long for the leader before making its own call.
const flights = new SingleFlight<CacheEntry>(30_000);

export function cacheRules(policy: TenantPolicy, hints: RequestHints, req: ChatRequest): CacheRules {
  const none = { readExact: false, readSemantic: false, write: false, writeSemantic: false, ttlS: 0 };
  const { cache } = policy;
  // An absent temperature is the provider's default, which samples (1 for OpenAI-compatible APIs).
  const sampled = (req.temperature ?? 1) > 0;
  if (!cache.enabled || hints.cache === "no-store" || (sampled && !cache.cache_sampled)) return none;
  // KV cannot be pinned to a jurisdiction: a tenant with data residency keeps no answers there.
  if (policy.residency) return none;
  const semantic = cache.semantic && hints.cache !== "exact-only";
  const read = hints.cache !== "no-cache";
  return { readExact: read, readSemantic: read && semantic, write: true, writeSemantic: semantic, ttlS: hints.cacheTtlS ?? cache.ttl_s };
}

/**
 * The cache as one request sees it: `open` looks up (exact, then a concurrent identical request,
 * then semantic) and, on a miss, makes this request the one that fills the entry. Then exactly one
 * of `store`, `recordStream` or `abandon` is called.
 */
export class ChatCache {
  hit?: CacheHit;
  semantic?: SemanticStatus;
  private leader?: ReturnType<SingleFlight<CacheEntry>["lead"]>;
  private vector?: number[];

  private constructor(
    private readonly ctx: CacheContext,
    private readonly req: ChatRequest,
    private readonly identity: KeyIdentity,
    readonly rules: CacheRules,
    readonly key: string,
    private readonly question: string | undefined,
    /** The tenant's embedder, chosen once per request by the pipeline (the learned router uses it too). */
    private readonly embedder: Embedder | undefined,
  ) {}

  static async open(ctx: CacheContext, req: ChatRequest, identity: KeyIdentity, embedder: Embedder | undefined): Promise<ChatCache> {
    const { tenant, hints } = ctx;
    const rules = cacheRules(tenant.policy, hints, req);
    const key = rules.write || rules.readExact ? await exactKey(tenant.tenantId, identity, req) : "";
    const cache = new ChatCache(ctx, req, identity, rules, key, semanticQuestion(req), embedder);
    await cache.lookupExact();
    if (!cache.hit && rules.readSemantic) await cache.lookupSemantic();
    if (cache.hit?.kind === "semantic") {
      // Identical requests waiting on this one make their own (cheap, embedding-cached) semantic lookup.
      cache.abandon();
      if (rules.write) cache.alias(cache.hit.entry);
    }
    return cache;
  }

  /** `exact`, `semantic`, `miss` (looked up, nothing usable) or `bypass` (not looked up). */
  get status(): "exact" | "semantic" | "miss" | "bypass" {
    return this.hit?.kind ?? (this.rules.readExact ? "miss" : "bypass");
  }

  /** KV (or the isolate's hot entries), then an identical request already on its way upstream. */
  private async lookupExact(): Promise<void> {
    const { env, tenant } = this.ctx;
    if (this.rules.readExact) {
      const entry = await lookupExact(env.CACHE_KV, tenant.tenantId, this.key);
      if (entry && this.answersInFull(entry)) return void (this.hit = { kind: "exact", entry });
      // Checked and led with no await in between, so two identical misses cannot both lead.
      const flight = flights.join(this.key);
      if (flight) {
        const joined = await flight;
        // A streamed leader may have recorded less than this request asks for: then it calls itself.
        if (joined && this.answersInFull(joined)) return void (this.hit = { kind: "exact", entry: joined, joined: true });
      }
    }
    if (this.rules.write) this.leader = flights.lead(this.key);
    if (this.rules.readExact && !this.rules.readSemantic) this.semantic = "off";
  }

  private async lookupSemantic(): Promise<void> {
    const { env, tenant } = this.ctx;
    if (!this.question) return void (this.semantic = "off");
    const embedder = this.embedder;
    if (!embedder) return void (this.semantic = "unavailable");
    const result = await lookupSemantic({
      kv: env.CACHE_KV,
      store: vectorStore(env),
      embedder,
      tenantId: tenant.tenantId,
      question: this.question,
      scope: await this.scope(embedder),
      threshold: tenant.policy.cache.semantic_threshold ?? candidateThreshold(embedder),
      requestKey: this.key || undefined,
      event: this.ctx.ledger.event,
    });
    this.vector = result.vector;
    const usable = result.hit && this.answersInFull(result.hit.entry) ? result.hit : undefined;
    this.semantic = result.hit && !usable ? "miss" : result.status;
    if (usable) this.hit = { kind: "semantic", entry: usable.entry, score: usable.score };
    if (result.rejected || result.error) {
      this.ctx.ledger.event.detail = { ...this.ctx.ledger.event.detail, semantic: { status: result.status, embedder: embedder.id, ...result.rejected, error: result.error } };
    }
  }

  private scope(embedder: Embedder): Promise<string> {
    return scopeHash(this.ctx.tenant.tenantId, this.identity, this.req, embedder.id);
  }

  /** An entry never answers a request that asks for an optional output it lacks (issue 11, finding 8). */
  private answersInFull(entry: CacheEntry): boolean {
    return answersInFull(entry.lacks, this.req);
  }

  /**
   * Caches a provider's answer (once the response is on its way: the writes run in waitUntil).
   * `lacks` names what the recording dropped; a non-streamed completion is whole.
   */
  store(completion: ChatCompletion, served: { model: CatalogModel; tier: Tier; requestId: string }, lacks: OptionalOutput[] = []): void {
    const leader = this.leader;
    this.leader = undefined;
    if (!leader) return;
    if (!this.storable(completion, served.tier)) return leader.settle(undefined);
    const now = Date.now();
    const entry: CacheEntry = {
      v: 2,
      tenant_id: this.ctx.tenant.tenantId,
      completion,
      question: this.question ?? null,
      // For an embedder with a vector model, when the lookup ran: the verifier reads it instead of re-embedding.
      ...(this.vector && this.embedder && this.rules.writeSemantic && vectorVerifier(this.embedder.id) ? { question_vector: encodeVector(this.embedder.id, this.vector) } : {}),
      model: served.model.id,
      provider: served.model.provider,
      tier: served.tier,
      cost_usd: priceUsd(served.model, completion.usage.prompt_tokens, completion.usage.completion_tokens),
      created_at: now,
      fresh_until: now + this.rules.ttlS * 1000,
      request_id: served.requestId,
      lacks,
    };
    const exactWrite = storeExact(this.ctx.env.CACHE_KV, this.key, entry, now);
    const writes = Promise.allSettled([exactWrite, this.storeVector(entry)]).then((results) => {
      for (const r of results) if (r.status === "rejected") console.error(JSON.stringify({ level: "warn", msg: "cache write failed", error: String(r.reason) }));
    });
    leader.settle(entry, writes);
    this.ctx.waitUntil(writes);
    // The ledger row is written after the cache entry, so "the row exists" means "the entry exists".
    this.ctx.ledger.until(writes);
  }

  // A paraphrase that hit is also written under its own exact key, so its next repeat is an exact hit
  // with no embedding call. It keeps the source's freshness: an alias never outlives what it copies.
  private alias(entry: CacheEntry): void {
    const write = storeExact(this.ctx.env.CACHE_KV, this.key, entry).catch((error: unknown) => {
      console.error(JSON.stringify({ level: "warn", msg: "cache alias write failed", error: String(error) }));
    });
    this.ctx.waitUntil(write);
    this.ctx.ledger.until(write);
  }

  /** Passes a provider stream through and caches what it delivered, if it finished. */
  recordStream(chunks: AsyncGenerator<ChatChunk, void, void>, done: Promise<StreamSummary>, served: { model: CatalogModel; tier: Tier; requestId: string }, ids: ResponseIds): AsyncGenerator<ChatChunk, void, void> {
    // This request fills no entry (no-store, no write allowed): the stream passes through untouched,
    // with no assembler and no extra generator step per chunk.
    if (!this.leader) return chunks;
    return this.record(chunks, done, served, ids);
  }

  private async *record(chunks: AsyncGenerator<ChatChunk, void, void>, done: Promise<StreamSummary>, served: { model: CatalogModel; tier: Tier; requestId: string }, ids: ResponseIds): AsyncGenerator<ChatChunk, void, void> {
    const assembler = new StreamAssembler();
    let complete = false;
    try {
      for await (const chunk of chunks) {
        assembler.add(chunk);
        yield chunk;
      }
      complete = true;
    } finally {
      const body = complete ? assembler.completion(ids) : undefined;
      if (!body) this.abandon();
      else {
        const summary = await done;
        if (summary.error || !summary.usage) this.abandon();
        else this.store({ ...body, usage: summary.usage }, served, lostInStream(this.req));
      }
    }
  }

  /** The request failed or will not be cached: concurrent identical requests stop waiting for it. */
  abandon(): void {
    this.leader?.settle(undefined);
    this.leader = undefined;
  }

  /** Any entry for this exact request, however old: for serving when every provider fails. */
  async stale(): Promise<CacheEntry | undefined> {
    const entry = this.key ? await lookupStale(this.ctx.env.CACHE_KV, this.ctx.tenant.tenantId, this.key) : undefined;
    return entry && this.answersInFull(entry) ? entry : undefined;
  }

  private storable(completion: ChatCompletion, tier: Tier): boolean {
    const choice = completion.choices[0];
    if (!choice || choice.finish_reason === "content_filter") return false;
    // A refusal is not an answer to hand out again, and a recorded stream could not replay it.
    if (choice.message.refusal) return false;
    if (!choice.message.content && !choice.message.tool_calls?.length) return false;
    // A budget-degraded answer comes from a cheaper tier than the key names: it must not answer later
    // requests that can afford the tier they asked for. A stronger (escalated) answer is fine.
    return tierRank(tier) >= tierRank(this.identity.tier);
  }

  private async storeVector(entry: CacheEntry): Promise<void> {
    const embedder = this.rules.writeSemantic && this.question ? this.embedder : undefined;
    if (!embedder || !this.question) return;
    const vector = this.vector ?? (await embedQuestion(embedder, this.ctx.tenant.tenantId, this.question)).vector;
    if (!vector) return;
    const scope = await this.scope(embedder);
    await vectorStore(this.ctx.env).upsert(this.ctx.tenant.tenantId, [{ id: this.key, values: vector, scope, expiresAt: entry.fresh_until }]);
  }
}
