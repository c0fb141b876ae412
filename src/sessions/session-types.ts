import type { SessionLimits } from "../config/tenant-policy";

export type { SessionLimits } from "../config/tenant-policy";
export const SESSION_LIMIT_NAMES = ["max_steps", "max_tool_calls", "max_retries_per_tool", "max_tokens", "max_usd", "max_wall_clock_s", "loop_repeat_limit"] as const;
export type SessionLimitName = (typeof SESSION_LIMIT_NAMES)[number];

export type StepKind = "model" | "tool";
export type SessionState = "active" | "limited" | "ended";

/** What is left of each bounded limit; an unbounded one is absent. */
export interface SessionRemaining {
  steps?: number;
  tool_calls?: number;
  tokens?: number;
  usd?: number;
  wall_clock_s?: number;
}

export interface OpenStepInput {
  tenantId: string;
  sessionId: string;
  stepId: string;
  kind: StepKind;
  /** The model (or tier) asked for, or `server/tool`: retries are counted per tool by this name. */
  name: string;
  task: string;
  bodyHash: string;
  estimateUsd: number;
  estimateTokens: number;
  /** Policy limits already tightened by the request's header; the session keeps the tightest it has seen. */
  limits: SessionLimits;
  /** A step whose worker never settles is closed at its worst case after this long. */
  holdMs: number;
  now?: number;
}

export type SessionRefusalCode = "session_limit_exceeded" | "loop_detected";

export type OpenStepResult =
  | { ok: true; remaining: SessionRemaining; limits: SessionLimits }
  | { ok: false; code: SessionRefusalCode; param: string; message: string; remaining: SessionRemaining; limits: SessionLimits };

export interface SettleStepInput {
  stepId: string;
  costUsd: number;
  tokens: number;
  latencyMs: number;
  status: number;
  cache?: string;
  now?: number;
}

export interface TimelineStep {
  seq: number;
  id: string;
  kind: StepKind;
  name: string;
  task: string;
  status: "running" | "ok" | "error" | "expired";
  http_status: number | null;
  started_at: number;
  cost_usd: number;
  reserved_usd: number;
  tokens: number;
  latency_ms: number | null;
  cache: string | null;
  retries: number;
}

export interface SessionView {
  id: string;
  state: SessionState;
  limited_by: string | null;
  limits: SessionLimits;
  counters: {
    steps: number;
    tool_calls: number;
    tokens: number;
    cost_usd: number;
    reserved_usd: number;
    retries_per_tool: Record<string, number>;
    first_activity: number;
    last_activity: number;
    ended_at: number | null;
  };
  remaining: SessionRemaining;
  timeline: TimelineStep[];
}

/** `steps=3,tool_calls=10,usd=0.41`: only bounded limits appear; `unlimited` when none is. */
export function formatRemaining(remaining: SessionRemaining): string {
  const parts: string[] = [];
  if (remaining.steps !== undefined) parts.push(`steps=${remaining.steps}`);
  if (remaining.tool_calls !== undefined) parts.push(`tool_calls=${remaining.tool_calls}`);
  if (remaining.tokens !== undefined) parts.push(`tokens=${remaining.tokens}`);
  if (remaining.usd !== undefined) parts.push(`usd=${Number(remaining.usd.toFixed(6))}`);
  if (remaining.wall_clock_s !== undefined) parts.push(`wall_clock_s=${remaining.wall_clock_s}`);
  return parts.length ? parts.join(",") : "unlimited";
}
