import type { TenantContext } from "../hono-env";
import { GatewayError } from "../errors";
import type { LedgerEvent } from "../ledger/ledger-event";
import type { ChatMessage, ChatRequest } from "../validate/chat-request";
import type { RequestHints } from "../validate/request-hints";
import type { PromptVersion } from "./prompt-definition";
import { renderVersion } from "./prompt-definition";
import { promptRegistry, rolloutBucket } from "./prompt-registry-client";

/** What expansion needs from the request's context (a structural slice, so this folder imports no pipeline). */
export interface PromptScope {
  env: Env;
  tenant: TenantContext;
  hints: RequestHints;
  ledger: { event: LedgerEvent };
  session?: { id: string };
  stage: <T>(name: string, run: () => Promise<T> | T) => Promise<T>;
}

/** The version's defaults under the request's own choices: whatever the request sets wins. */
function applyVersion(req: ChatRequest, version: PromptVersion, messages: ChatMessage[]): ChatRequest {
  const { prompt: _ref, ...rest } = req;
  const params = version.parameters;
  return {
    ...rest,
    model: req.model === "auto" && version.model ? version.model : req.model,
    messages: [...messages, ...req.messages],
    ...(req.temperature == null && params.temperature !== undefined ? { temperature: params.temperature } : {}),
    ...(req.top_p == null && params.top_p !== undefined ? { top_p: params.top_p } : {}),
    ...(req.max_completion_tokens == null && req.max_tokens == null && params.max_completion_tokens !== undefined ? { max_completion_tokens: params.max_completion_tokens } : {}),
    ...(req.seed == null && params.seed !== undefined ? { seed: params.seed } : {}),
    ...(req.stop == null && params.stop !== undefined ? { stop: params.stop } : {}),
  };
}

/**
 * Step 2b: a request naming a registered prompt becomes the plain request it stands for, before the
 * plan, the cache key and the ledger see it, so all three follow the version that served it. The
 * rollout is read from the tenant's registry object on every such request: a rollback holds at once.
 */
export async function expandPrompt<C extends PromptScope>(ctx: C, req: ChatRequest): Promise<{ ctx: C; req: ChatRequest }> {
  const ref = req.prompt;
  if (!ref) return { ctx, req };
  const resolved = await ctx.stage("prompt", async () => {
    const bucket = await rolloutBucket(ref.id, ctx.session?.id ?? ctx.ledger.event.request_id);
    return promptRegistry(ctx.env, ctx.tenant).resolve(ref.id, ref.version ?? null, bucket);
  });
  if (!resolved) {
    // Another tenant's prompt must look exactly like one that does not exist.
    throw ref.version === undefined ? GatewayError.notFound(`prompt '${ref.id}'`) : GatewayError.invalid(`Prompt '${ref.id}' has no version ${ref.version}`, "prompt.version");
  }
  const { version } = resolved;
  const rendered: ChatMessage[] = renderVersion(version, ref.id, ref.variables ?? {}).map((m) => ({ role: m.role, content: m.content }));
  const expanded = applyVersion(req, version, rendered);
  ctx.ledger.event.prompt_name = ref.id;
  ctx.ledger.event.prompt_version = version.version;
  const tierFree = req.model === "auto" && (!ctx.hints.tier || ctx.hints.tier === "auto");
  const next = version.tier && tierFree ? { ...ctx, hints: { ...ctx.hints, tier: version.tier } } : ctx;
  return { ctx: next, req: expanded };
}
