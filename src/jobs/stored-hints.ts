import * as z from "zod";
import { TierChoiceSchema } from "../config/tenant-policy";
import type { Lane } from "./lanes";
import { parseSessionHeaders, type SessionScope } from "../sessions/session-gate";
import { CacheModeSchema, parseHints, type RequestHints } from "../validate/request-hints";

/**
 * The request headers a job keeps for later: the x-tollgate-* hints that shape routing, caching and
 * reporting, plus the sim fault header (a dev/test hook; the provider registry ignores it in production).
 */
export const StoredHintsSchema = z.object({
  task: z.string().max(64).default("default"),
  tier: TierChoiceSchema.optional(),
  cache: CacheModeSchema.default("default"),
  cacheTtlS: z.number().int().optional(),
  sensitive: z.literal("sensitive").optional(),
  simFault: z.string().max(512).optional(),
  /** x-tollgate-session and its limits, as sent: every attempt of the work is a step of that session. */
  session: z.object({ id: z.string().max(128), limits: z.string().max(512).optional() }).optional(),
});
export type StoredHints = z.infer<typeof StoredHintsSchema>;

export function hintsFromHeaders(header: (name: string) => string | undefined): StoredHints {
  const hints = parseHints(header);
  const simFault = header("x-tollgate-sim-fault")?.slice(0, 512);
  // Validated now, so a bad session header is a 400 at submission, not a failure later.
  const session = parseSessionHeaders(header) ? { id: header("x-tollgate-session")?.trim() ?? "", limits: header("x-tollgate-session-limits") } : undefined;
  return {
    task: hints.task,
    cache: hints.cache,
    ...(hints.tier ? { tier: hints.tier } : {}),
    ...(hints.cacheTtlS ? { cacheTtlS: hints.cacheTtlS } : {}),
    ...(hints.sensitive ? { sensitive: hints.sensitive } : {}),
    ...(simFault ? { simFault } : {}),
    ...(session ? { session: { id: session.id, ...(session.limits ? { limits: session.limits } : {}) } } : {}),
  };
}

/** The session a piece of stored work is a step of, if it was submitted with one. */
export function storedSession(stored: StoredHints): SessionScope | undefined {
  const session = stored.session;
  if (!session) return undefined;
  return parseSessionHeaders((name) => (name === "x-tollgate-session" ? session.id : name === "x-tollgate-session-limits" ? session.limits : undefined));
}

export function parseStoredHints(json: string | null): StoredHints {
  const parsed = StoredHintsSchema.safeParse(json ? JSON.parse(json) : {});
  return parsed.success ? parsed.data : StoredHintsSchema.parse({});
}

/** The hints the pipeline sees for one attempt: the stored ones, this lane, and what is left of the time. */
export function attemptHints(stored: StoredHints, lane: Lane, deadlineMs: number): RequestHints {
  return {
    task: stored.task,
    tier: stored.tier,
    cache: stored.cache,
    cacheTtlS: stored.cacheTtlS,
    sensitive: stored.sensitive,
    priority: lane,
    deadlineMs: Math.max(1, Math.min(600_000, Math.floor(deadlineMs))),
  };
}
