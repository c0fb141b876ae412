import type { TenantPolicy } from "../config/tenant-policy";
import { GatewayError } from "../errors";
import type { RequestLedger } from "../ledger/request-ledger";
import type { ChatMessage, ChatRequest } from "../validate/chat-request";
import { messageText } from "../validate/chat-request";
import type { RequestHints } from "../validate/request-hints";
import { guardrailsFor, guardrailsOff, type ResolvedGuardrails } from "./guardrail-settings";
import { findInjection } from "./injection-heuristics";
import type { PiiKind } from "./pii-detectors";
import { PiiPlaceholders } from "./pii-placeholders";

/** What a guardrail step needs of the request's context (chat and embeddings alike). */
export interface GuardedContext {
  tenant: { policy: TenantPolicy };
  hints: RequestHints;
  ledger: RequestLedger;
  guard?: RequestGuard;
}

/**
 * What the guardrails did to one request: the `x-tollgate-guardrails` header, and the ledger row's
 * `detail.guardrails` (kinds and counts, never the content). Carries the request's placeholders so
 * that its answer can be scanned with fresh numbers and, with `pii_restore`, restored.
 */
export class RequestGuard {
  private readonly parts = new Map<string, string>();
  private readonly detail: Record<string, unknown> = {};

  constructor(
    readonly settings: ResolvedGuardrails,
    private readonly ledger: RequestLedger,
    /** The request's placeholders, when `redact` replaced something. */
    readonly placeholders?: PiiPlaceholders,
  ) {}

  note(key: string, header: string | undefined, detail: unknown): void {
    if (header) this.parts.set(key, header);
    this.detail[key] = detail;
    this.ledger.event.detail = { ...this.ledger.event.detail, guardrails: { ...this.detail } };
  }

  /** `pii=redacted:2,injection=flagged`, or undefined when no guardrail acted. */
  get header(): string | undefined {
    return [...this.parts].map(([key, value]) => `${key}=${value}`).join(",") || undefined;
  }

  /** A refusal (400 guardrail_blocked) that still says, in its header, which guardrail refused. */
  blocked(key: string, message: string, detail: unknown): GatewayError {
    this.note(key, "blocked", detail);
    return new GatewayError(400, "guardrail_blocked", message, null, { "x-tollgate-guardrails": this.header ?? `${key}=blocked` });
  }
}

const countsOf = (counts: Map<PiiKind, number>): Record<string, number> => Object.fromEntries(counts);

/** Injection looks at what a user or a tool wrote: the system prompt is the tenant's own. */
function screenInjection(guard: RequestGuard, req: ChatRequest): void {
  if (guard.settings.injection === "off") return;
  const seen = new Set<string>();
  for (const message of req.messages) {
    if (message.role === "system" || message.role === "developer") continue;
    for (const name of findInjection(messageText(message))) seen.add(name);
  }
  if (!seen.size) return;
  const patterns = [...seen];
  if (guard.settings.injection === "block") throw guard.blocked("injection", `The request looks like a prompt injection (${patterns.join(", ")}) and this tenant's policy blocks those`, { action: "blocked", patterns });
  guard.note("injection", "flagged", { action: "flagged", patterns });
}

/** Every text a provider would see in one message: its content and its tool calls' arguments. */
function redactMessage(message: ChatMessage, placeholders: PiiPlaceholders): ChatMessage {
  const { content } = message;
  const redacted: ChatMessage = { ...message };
  if (typeof content === "string") redacted.content = placeholders.redact(content);
  else if (content) redacted.content = content.map((part) => (part.type === "text" && typeof part.text === "string" ? { ...part, text: placeholders.redact(part.text) } : part));
  if (message.tool_calls) redacted.tool_calls = message.tool_calls.map((call) => ({ ...call, function: { ...call.function, arguments: placeholders.redact(call.function.arguments) } }));
  return redacted;
}

/**
 * Applies the PII mode, given the request's texts already redacted into `placeholders` (which found
 * and counted every match): refuses, marks the request for private models, or lets the redacted
 * texts go on. Returns the context later steps see.
 */
function screenPii<C extends GuardedContext>(ctx: C, guard: RequestGuard, placeholders: PiiPlaceholders): C {
  const mode = guard.settings.pii;
  const total = placeholders.total;
  if (mode === "off" || !total) return ctx;
  const kinds = countsOf(placeholders.counts);
  const detail = { action: mode === "redact" ? "redacted" : mode, count: total, kinds };
  if (mode === "block") throw guard.blocked("pii", `The request contains personal data or secrets (${Object.keys(kinds).join(", ")}) and this tenant's policy blocks those`, detail);
  if (mode === "private") {
    guard.note("pii", `private:${total}`, detail);
    // Routing already keeps sensitive requests on private models: the plan sees it through the hints.
    return { ...ctx, hints: { ...ctx.hints, sensitive: "sensitive" } };
  }
  guard.note("pii", `redacted:${total}`, detail);
  return ctx;
}

/**
 * The guardrail step, between validate and plan: injection first (a blocked request needs no more
 * work), then PII. Returns the request every later step sees (the cache key included, so no secret
 * reaches KV) and the context carrying the guard.
 */
export function guardRequest<C extends GuardedContext>(ctx: C, req: ChatRequest): { ctx: C; req: ChatRequest } {
  const settings = guardrailsFor(ctx.tenant.policy, ctx.hints.task);
  if (guardrailsOff(settings)) return { ctx, req };
  const placeholders = new PiiPlaceholders();
  const guard = new RequestGuard(settings, ctx.ledger, settings.pii === "redact" ? placeholders : undefined);
  screenInjection(guard, req);
  if (settings.pii === "off") return { ctx: { ...ctx, guard }, req };
  const redacted: ChatRequest = { ...req, messages: req.messages.map((m) => redactMessage(m, placeholders)) };
  const next = screenPii(ctx, guard, placeholders);
  return { ctx: { ...next, guard }, req: settings.pii === "redact" ? redacted : req };
}

/** Embedding inputs: the same PII modes (injection and output checks do not apply to vectors). */
export function guardInputs<C extends GuardedContext>(ctx: C, inputs: string[]): { ctx: C; inputs: string[] } {
  const settings = guardrailsFor(ctx.tenant.policy, ctx.hints.task);
  if (settings.pii === "off") return { ctx, inputs };
  const placeholders = new PiiPlaceholders();
  const guard = new RequestGuard(settings, ctx.ledger);
  const redacted = inputs.map((input) => placeholders.redact(input));
  const next = screenPii(ctx, guard, placeholders);
  return { ctx: { ...next, guard }, inputs: settings.pii === "redact" ? redacted : inputs };
}
