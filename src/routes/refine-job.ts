import type { TenantContext } from "../hono-env";
import { submitJob } from "../jobs/job-submission";
import type { StoredHints } from "../jobs/stored-hints";
import type { ChatRequest } from "../validate/chat-request";
import type { RequestHints } from "../validate/request-hints";

/**
 * Two-phase answers (`x-tollgate-refine: async`): the caller gets the fast tier now, and the powerful
 * tier's answer later as a job. The immediate call is pinned to `fast` and not escalated: the job is
 * the escalation.
 */
export function immediateHints(hints: RequestHints, req: ChatRequest): RequestHints {
  return hints.refine === "async" && req.model === "auto" ? { ...hints, tier: "fast" } : hints;
}

export async function submitRefinement(env: Env, tenant: TenantContext, hints: RequestHints, req: ChatRequest, requestId: string, simFault?: string): Promise<string> {
  const stored: StoredHints = {
    task: hints.task,
    tier: "powerful",
    cache: hints.cache,
    ...(hints.sensitive ? { sensitive: hints.sensitive } : {}),
    ...(simFault ? { simFault } : {}),
  };
  const { stream: _stream, stream_options: _options, ...request } = req;
  const { job } = await submitJob(env, {
    tenant,
    body: { request: { ...request, model: "auto" }, priority: "standard" },
    hints: stored,
    // One refinement per request, however often the response is retried.
    idempotencyKey: `refine:${requestId}`,
  });
  return `/v1/jobs/${job.id}`;
}
