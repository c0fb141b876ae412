import { withApiPrefix } from "./api-prefix";
import { buildApp } from "./app";
import { routeQueueBatch } from "./queue-router";
import { runScheduled } from "./scheduled";

export { AgentSession } from "../durable-objects/agent-session";
export { IdempotencyStore } from "../durable-objects/idempotency-store";
export { LocalVectorStore } from "../durable-objects/local-vector-store";
export { PromptRegistry } from "../durable-objects/prompt-registry";
export { ProviderBreaker } from "../durable-objects/provider-breaker";
export { TenantBudget } from "../durable-objects/tenant-budget";
export { ToolBulkhead } from "../durable-objects/tool-bulkhead";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(withApiPrefix(request), env, ctx),
  queue: routeQueueBatch,
  scheduled: runScheduled,
} satisfies ExportedHandler<Env>;
