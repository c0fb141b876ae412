import { guardInputs } from "../guardrails/request-guard";
import { RequestLedger } from "../ledger/request-ledger";
import type { ChatContext, ChatOutcome } from "../pipeline/chat-types";
import type { ChatMessage, ChatRequest, RetrievalField } from "../validate/chat-request";
import { messageText } from "../validate/chat-request";
import { type Collection, getCollection } from "./collection-store";
import { packContext, sourceLabel } from "./context-packing";
import { readSummary, summaryKey, writeSummary } from "./retrieval-cache";
import { searchCollection } from "./search";

/** What a grounded answer reports: x-tollgate-retrieval-sources, and the body's `retrieval` field. */
export interface RetrievalSummary {
  collection: string;
  version: number;
  /** The retrieval cache: whether the chunks came without an embedding and a search. */
  cache: "hit" | "miss";
  /** `doc#chunk` labels of the chunks in the prompt, best first. */
  sources: string[];
  /** Chunks retrieved but left out to stay within the token allowance (lowest scores). */
  dropped: number;
  context_tokens: number;
  /** What retrieving (and summarising) cost, on rows of their own in the ledger. */
  cost_usd: number;
  /** The component cache, when `summarize` was asked for. */
  summary?: "hit" | "miss";
}

export type RunChat = (ctx: ChatContext, req: ChatRequest) => Promise<ChatOutcome>;

// Keyed by the request's ledger, which every derived context (prompt expansion, guardrails) shares.
const grounded = new WeakMap<ChatContext["ledger"], RetrievalSummary>();

/** The retrieval a request was grounded with, for the response headers and body. */
export const groundingOf = (ctx: ChatContext): RetrievalSummary | undefined => grounded.get(ctx.ledger);

/**
 * A child of the request for spend that is not the model call itself (the query embedding, the
 * summary): its own admission and ledger row, so the budget and the ledger agree to the cent, and the
 * parent row names it in `detail.retrieval`.
 */
function childContext(ctx: ChatContext, suffix: string, endpoint: string): ChatContext {
  const parent = ctx.ledger.event;
  const ledger = new RequestLedger(`${parent.request_id}:${suffix}`, endpoint);
  Object.assign(ledger.event, { tenant_id: parent.tenant_id, key_id: parent.key_id, task: parent.task, session_id: parent.session_id });
  return { ...ctx, ledger, session: undefined };
}

const lastUserText = (messages: ChatMessage[]) => messageText([...messages].reverse().find((m) => m.role === "user") ?? { content: "" });

/** The component cache: the packed context condensed once by the fast tier, kept per (collection version, query). */
async function summarised(ctx: ChatContext, runChat: RunChat, collection: Collection, query: string, context: string, sources: string[]): Promise<{ text: string; hit: boolean; costUsd: number }> {
  const key = await summaryKey(ctx.tenant.tenantId, collection.id, collection.version, query);
  const cached = await readSummary(ctx.env.CACHE_KV, key);
  if (cached) return { text: cached.text, hit: true, costUsd: 0 };
  const child = childContext(ctx, "summary", "retrieval-summary");
  // The fast tier and only it: a summary is worth having cheap, so it never escalates.
  child.hints = { ...ctx.hints, tier: "fast", refine: undefined, cache: "default" };
  child.tenant = { ...ctx.tenant, policy: { ...ctx.tenant.policy, escalation: false } };
  const outcome = await runChat(child, {
    model: "auto",
    messages: [
      { role: "system", content: "Condense the sources below into the facts that answer the question. Keep every [id] citation next to the fact it supports. Do not answer beyond the sources." },
      { role: "user", content: `Question: ${query}\n\n${context}` },
    ],
    max_completion_tokens: 512,
    temperature: 0,
  });
  ctx.waitUntil(child.ledger.flush(ctx.env, 200));
  const text = outcome.kind === "completion" ? (outcome.completion.choices[0]?.message.content ?? "") : "";
  const summary = `Answer from this summary of the sources ${sources.map((s) => `[${s}]`).join(" ")}, and cite them by their [id].\n\n${text}`;
  if (text) await writeSummary(ctx.env.CACHE_KV, key, { text: summary, sources });
  return { text: summary, hit: false, costUsd: child.ledger.event.cost_usd };
}

/**
 * Step 2b, before anything that reads the prompt: a request with `retrieval` gets the collection's
 * top chunks (through the retrieval cache) packed into a system message within its token allowance,
 * so the exact cache, the semantic cache, admission and the ledger all see the grounded request. The
 * same request again retrieves the same chunks from the cache and so packs the same bytes.
 */
export async function groundRequest(ctx: ChatContext, req: ChatRequest, runChat: RunChat): Promise<ChatRequest> {
  if (!req.retrieval) return req;
  const { retrieval, ...rest } = req;
  const { env, tenant } = ctx;
  const policy = tenant.policy.retrieval;
  const collection = await ctx.stage("retrieve", () => getCollection(env.DB, tenant.tenantId, retrieval.collection));
  const query = lastUserText(req.messages);
  const topK = Math.min(retrieval.top_k ?? policy.max_top_k, policy.max_top_k);
  const maxTokens = Math.min(retrieval.max_context_tokens ?? policy.max_context_tokens, policy.max_context_tokens);
  // The query goes to the embedder before the request's own guardrail step, so it is screened the
  // same way first: redacted, refused, or kept to a private embedder.
  const screened = guardInputs(childContext(ctx, "retrieval", "retrieval"), [query]);
  const child = screened.ctx;
  const found = await searchCollection(child, collection, { query: screened.inputs[0] ?? query, topK, filter: retrieval.filter });
  // Only a miss spent anything; a hit leaves no row of its own.
  if (found.cache === "miss") ctx.waitUntil(child.ledger.flush(env, 200));
  const packed = packContext(found.chunks, maxTokens);
  const sources = packed.kept.map(sourceLabel);
  const summary: RetrievalSummary = { collection: collection.id, version: collection.version, cache: found.cache, sources, dropped: packed.dropped.length, context_tokens: packed.tokens, cost_usd: found.costUsd };
  let context = packed.text;
  if (retrieval.summarize && context) {
    const condensed = await ctx.stage("summarize", () => summarised(ctx, runChat, collection, query, context, sources));
    context = condensed.text;
    summary.summary = condensed.hit ? "hit" : "miss";
    summary.cost_usd += condensed.costUsd;
  }
  grounded.set(ctx.ledger, summary);
  ctx.ledger.event.detail = { ...ctx.ledger.event.detail, retrieval: { ...summary, rows: [found.cache === "miss" ? child.ledger.event.request_id : null, summary.summary === "miss" ? `${ctx.ledger.event.request_id}:summary` : null].filter(Boolean) } };
  if (!context) return rest;
  // After the caller's own system messages, so their instructions still come first.
  const lead = rest.messages.findIndex((m) => m.role !== "system" && m.role !== "developer");
  const at = lead === -1 ? rest.messages.length : lead;
  return { ...rest, messages: [...rest.messages.slice(0, at), { role: "system", content: context }, ...rest.messages.slice(at)] };
}
