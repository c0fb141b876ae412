import { sha256Hex } from "../auth/key-hash";
import { estimateChain } from "../budget/budget-client";
import type { CatalogModel, Residency } from "../config/model-catalog";
import { tenantObject } from "../config/tenant-objects";
import { type SessionLimits, SessionLimitsSchema, type TenantPolicy } from "../config/tenant-policy";
import { GatewayError } from "../errors";
import type { TenantContext } from "../hono-env";
import type { RequestLedger } from "../ledger/request-ledger";
import type { ChatRequest } from "../validate/chat-request";
import { formatRemaining, SESSION_LIMIT_NAMES, type SessionRemaining, type StepKind } from "./session-types";

const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** A step not settled within this long after its deadline is closed by the object at its worst case. */
const HOLD_MARGIN_MS = 60_000;
const DEFAULT_HOLD_MS = 10 * 60_000;

/** The x-tollgate-session headers of one request, validated. */
export interface SessionScope {
  id: string;
  /** What x-tollgate-session-limits asked for: only ever tightens the policy. */
  requested: SessionLimits;
  /** The step this request opened, kept here so whoever ends the request can settle it. */
  ticket?: SessionTicket;
}

/** What the gate needs from a request, whether a chat call or a tool call. */
export interface SessionCaller {
  env: Env;
  tenant: TenantContext;
  hints: { task: string; deadlineMs?: number };
  ledger: RequestLedger;
  session?: SessionScope;
  waitUntil: (promise: Promise<unknown>) => void;
}

export function sessionStub(env: Env, tenantId: string, sessionId: string, residency: Residency | null) {
  // The tenant is part of the name: two tenants choosing the same id get two sessions.
  return tenantObject(env.AGENT_SESSION, `${tenantId}:${sessionId}`, residency);
}

/** Parses `max_steps=20,max_usd=0.5`; a bad pair is a 400 naming the header. */
export function parseSessionLimits(raw: string): SessionLimits {
  const param = "x-tollgate-session-limits";
  const out: Record<string, number> = {};
  for (const pair of raw.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name, value, ...rest] = pair.split("=").map((p) => p.trim());
    if (!name || value === undefined || rest.length || !(SESSION_LIMIT_NAMES as readonly string[]).includes(name)) {
      throw GatewayError.invalid(`${param}: "${pair}" is not one of ${SESSION_LIMIT_NAMES.join(", ")} with =<number>`, param);
    }
    out[name] = Number(value);
  }
  const parsed = SessionLimitsSchema.safeParse(out);
  if (!parsed.success) throw GatewayError.invalid(`${param}: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`, param);
  return parsed.data;
}

export function parseSessionHeaders(header: (name: string) => string | undefined): SessionScope | undefined {
  const id = header("x-tollgate-session")?.trim();
  const limits = header("x-tollgate-session-limits");
  if (!id) {
    if (limits) throw GatewayError.invalid("x-tollgate-session-limits needs x-tollgate-session", "x-tollgate-session");
    return undefined;
  }
  if (!SESSION_ID.test(id)) throw GatewayError.invalid("x-tollgate-session must be 1-128 of A-Z a-z 0-9 . _ : -", "x-tollgate-session");
  return { id, requested: limits ? parseSessionLimits(limits) : {} };
}

/** The policy's limits for a task (its `tasks` entry over the base), tightened by the request. */
export function effectiveLimits(policy: TenantPolicy, task: string, requested: SessionLimits): SessionLimits {
  const { tasks, ...base } = policy.sessions;
  const merged: SessionLimits = { ...base, ...tasks[task] };
  for (const name of SESSION_LIMIT_NAMES) {
    const asked = requested[name];
    const current = merged[name];
    if (asked !== undefined) merged[name] = current === undefined ? asked : Math.min(current, asked);
  }
  return merged;
}

export interface SessionOutcome {
  costUsd: number;
  tokens: number;
  latencyMs: number;
  status: number;
  cache?: string;
}

/** One admitted step of a session: settle it once, whichever way the call ends. */
export class SessionTicket {
  private settled = false;

  constructor(
    private readonly caller: SessionCaller,
    readonly sessionId: string,
    readonly stepId: string,
    private estimateUsd: number,
    private readonly estimateTokens: number,
    private readonly opened: SessionRemaining,
  ) {}

  /** Settles in the background; the remaining figures are computed here, without waiting for the object. */
  settle(outcome: SessionOutcome): SessionRemaining {
    if (!this.settled) {
      this.settled = true;
      const { env, tenant } = this.caller;
      this.caller.waitUntil(sessionStub(env, tenant.tenantId, this.sessionId, tenant.policy.residency).settle({ stepId: this.stepId, ...outcome }).catch(() => undefined));
    }
    return this.remainingAfter(outcome.costUsd, outcome.tokens);
  }

  /** What was left at admission, with this step's reservation swapped for its actual cost. */
  remainingAfter(costUsd: number, tokens: number): SessionRemaining {
    const r = { ...this.opened };
    if (r.usd !== undefined) r.usd = Math.max(0, r.usd + this.estimateUsd - costUsd);
    if (r.tokens !== undefined) r.tokens = Math.max(0, r.tokens + this.estimateTokens - tokens);
    return r;
  }

  remainingHeader(outcome?: Pick<SessionOutcome, "costUsd" | "tokens">): string {
    return formatRemaining(outcome ? this.remainingAfter(outcome.costUsd, outcome.tokens) : this.opened);
  }

  /** Before a dearer fallback runs: the step's reservation must cover its worst case too (false: skip it). */
  async cover(usd: number): Promise<boolean> {
    if (usd <= this.estimateUsd || this.settled) return !this.settled;
    const { env, tenant } = this.caller;
    if (!(await sessionStub(env, tenant.tenantId, this.sessionId, tenant.policy.residency).cover(this.stepId, usd))) return false;
    this.estimateUsd = usd;
    return true;
  }

  /** The gateway's own retry of this step's tool: false once the tool is out of retries in this session. */
  retry(tool: string): Promise<boolean> {
    const { env, tenant } = this.caller;
    return sessionStub(env, tenant.tenantId, this.sessionId, tenant.policy.residency).retry(this.stepId, tool);
  }
}

export interface StepRequest {
  kind: StepKind;
  /** The model asked for, or `server/tool`. */
  name: string;
  bodyHash: string;
  estimateUsd: number;
  estimateTokens: number;
  /** Distinguishes several steps of one HTTP request (e.g. a batch of tool calls); default: the request id. */
  stepId?: string;
  holdMs?: number;
}

/**
 * Admits one step of the caller's session before any provider or tool is called: undefined without
 * x-tollgate-session; a 403 (`session_limit_exceeded` naming the limit, or `loop_detected`) past a limit.
 */
export async function openSessionStep(caller: SessionCaller, step: StepRequest): Promise<SessionTicket | undefined> {
  const scope = caller.session;
  if (!scope) return undefined;
  const { env, tenant, hints, ledger } = caller;
  ledger.event.session_id = scope.id;
  const stepId = step.stepId ?? ledger.event.request_id;
  const result = await sessionStub(env, tenant.tenantId, scope.id, tenant.policy.residency).open({
    tenantId: tenant.tenantId,
    sessionId: scope.id,
    stepId,
    kind: step.kind,
    name: step.name,
    task: hints.task,
    bodyHash: step.bodyHash,
    estimateUsd: step.estimateUsd,
    estimateTokens: step.estimateTokens,
    limits: effectiveLimits(tenant.policy, hints.task, scope.requested),
    holdMs: step.holdMs ?? (hints.deadlineMs ?? tenant.policy.deadline_ms ?? DEFAULT_HOLD_MS) + HOLD_MARGIN_MS,
  });
  const header = { "x-tollgate-session-remaining": formatRemaining(result.remaining) };
  if (!result.ok) throw new GatewayError(403, result.code, result.message, result.param, header);
  const ticket = new SessionTicket(caller, scope.id, stepId, step.estimateUsd, step.estimateTokens, result.remaining);
  if (!step.stepId) scope.ticket = ticket;
  return ticket;
}

/**
 * A chat call's step: the body hash feeds the loop guard, the chain's worst case is reserved. A cache
 * hit is still a step (the agent took a turn) but reserves and costs $0.
 */
export async function openModelStep(caller: SessionCaller, req: ChatRequest, chain: readonly CatalogModel[], cached: boolean): Promise<SessionTicket | undefined> {
  if (!caller.session) return undefined;
  const estimate = estimateChain(req, chain);
  const bodyHash = await sha256Hex(JSON.stringify(req));
  return openSessionStep(caller, {
    kind: "model",
    name: req.model,
    bodyHash,
    estimateUsd: cached ? 0 : estimate.usd,
    estimateTokens: cached ? 0 : estimate.promptTokens + estimate.outputTokens,
  });
}

/** An embeddings call's step: its input is the body the loop guard hashes. */
export async function openEmbeddingsStep(caller: SessionCaller, modelId: string, inputs: readonly string[], estimateUsd: number, estimateTokens: number): Promise<SessionTicket | undefined> {
  if (!caller.session) return undefined;
  const bodyHash = await sha256Hex(JSON.stringify({ model: modelId, input: inputs }));
  return openSessionStep(caller, { kind: "model", name: modelId, bodyHash, estimateUsd, estimateTokens });
}
