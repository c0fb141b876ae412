import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { endTime, startTime, timing } from "hono/timing";
import { ulid } from "./unique-id";
import { adminAuth } from "./auth/admin-auth";
import { tenantAuth } from "./auth/tenant-auth";
import { GatewayError } from "./errors";
import { idempotency } from "./middleware/idempotency";
import { traceRequest } from "./middleware/trace-request";
import type { AppEnv } from "./hono-env";
import { RequestLedger } from "./ledger/request-ledger";
import { captureRequestLog } from "./ledger/request-log";
import { adminBreakerRoutes } from "./routes/admin-breakers";
import { adminDeadLetterRoutes } from "./routes/admin-dead-letters";
import { adminReconciliationRoutes } from "./routes/admin-reconciliation";
import { adminReportRoutes } from "./routes/admin-reports";
import { adminTenantRoutes } from "./routes/admin-tenants";
import { batchRoutes } from "./routes/batches";
import { chatRoutes } from "./routes/chat";
import { dashboardRoutes } from "./routes/dashboard";
import { embeddingsRoutes } from "./routes/embeddings";
import { feedbackRoutes } from "./routes/feedback";
import { jobRoutes } from "./routes/jobs";
import { memoRoutes } from "./routes/memo";
import { messagesRoutes } from "./routes/messages";
import { mcpRoutes } from "./routes/mcp";
import { collectionRoutes } from "./routes/collections";
import { modelsRoutes } from "./routes/models";
import { openaiBatchRoutes } from "./routes/openai-batches";
import { openaiFileRoutes } from "./routes/openai-files";
import { promptRoutes } from "./routes/prompts";
import { responsesRoutes } from "./routes/responses";
import { sessionRoutes } from "./routes/sessions";
import { tenantUsageRoutes } from "./routes/tenant-usage";
import { workflowRoutes } from "./routes/workflows";

export const MAX_BODY_BYTES = 1024 * 1024;
const ANTHROPIC_PATH = /^(\/v1)?\/messages(\/count_tokens)?$/;

/** Model calls: each one leaves exactly one ledger row, whatever happens to it. */
const MODEL_ENDPOINTS = new Set(["/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/embeddings"]);
/** Collection ingests and searches embed text: spend, with a ledger row like a model call. */
const COLLECTION_SPEND = /^\/v1\/collections\/[^/]+\/(documents|search)$/;

export function renderError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof HTTPException) {
    const code = error.status === 413 ? "payload_too_large" : error.status === 401 ? "invalid_api_key" : error.status === 404 ? "not_found" : "invalid_request";
    return new GatewayError(error.status === 413 || error.status === 401 || error.status === 404 ? error.status : 400, code, error.message || "Bad request");
  }
  console.error(JSON.stringify({ level: "error", msg: "unhandled error", error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }));
  return new GatewayError(500, "internal_error", "Internal error");
}

export function buildApp() {
  const app = new Hono<AppEnv>();

  // One middleware names the request and echoes its id (the client's X-Request-Id is not trusted).
  app.use(function requestId(c, next) {
    const id = ulid();
    c.set("requestId", id);
    c.header("x-request-id", id);
    return next();
  });
  app.use(timing({ totalDescription: "total" }));
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new GatewayError(413, "payload_too_large", `Request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  // Outermost on /v1: the server span ends after the ledger row is final.
  app.use("/v1/*", traceRequest);
  app.use("/v1/*", async (c, next) => {
    const ledger = new RequestLedger(c.var.requestId, c.req.path.slice(0, 64));
    c.set("ledger", ledger);
    await next();
    const log = await captureRequestLog(c);
    if ((!MODEL_ENDPOINTS.has(c.req.path) && !COLLECTION_SPEND.test(c.req.path)) || c.req.method !== "POST") {
      c.executionCtx.waitUntil(log.emit());
      return;
    }
    if (c.error instanceof GatewayError || c.res.status >= 400) {
      ledger.event.status = c.res.status;
      ledger.event.error_code = c.error instanceof GatewayError ? c.error.code : `http_${c.res.status}`;
    }
    if (!ledger.event.stream) ledger.event.latency_ms = ledger.elapsedMs();
    c.executionCtx.waitUntil(ledger.flush(c.env, c.res.status, (event) => c.executionCtx.waitUntil(log.emit(event))));
  });
  app.use("/v1/*", async (c, next) => {
    startTime(c, "auth");
    await tenantAuth(c, async () => {
      endTime(c, "auth");
      await next();
    });
  });
  app.use("/v1/chat/completions", idempotency);
  app.use("/v1/messages", idempotency);
  app.use("/v1/responses", idempotency);
  app.route("/v1", chatRoutes);
  app.route("/v1", messagesRoutes);
  app.route("/v1", responsesRoutes);
  app.route("/v1", embeddingsRoutes);
  app.route("/v1", modelsRoutes);
  app.route("/v1", memoRoutes);
  app.route("/v1", tenantUsageRoutes);
  app.route("/v1", feedbackRoutes);
  app.route("/v1", jobRoutes);
  // OpenAI's file-based batches first: requests about an inline-form batch fall through to batchRoutes.
  app.route("/v1", openaiFileRoutes);
  app.route("/v1", openaiBatchRoutes);
  app.route("/v1", batchRoutes);
  app.route("/v1", workflowRoutes);
  app.route("/v1", sessionRoutes);
  app.route("/v1", mcpRoutes);
  app.route("/v1", promptRoutes);
  app.route("/v1", collectionRoutes);

  app.use("/admin/*", adminAuth);
  app.route("/admin", adminTenantRoutes);
  app.route("/admin", adminBreakerRoutes);
  app.route("/admin", adminDeadLetterRoutes);
  app.route("/admin", adminReconciliationRoutes);
  app.route("/admin", adminReportRoutes);
  // The dashboard signs in with the admin token itself, so it sits outside the /admin guard.
  app.route("/dashboard", dashboardRoutes);

  app.get("/health", (c) => c.json({ ok: true, environment: c.env.ENVIRONMENT }));
  app.notFound((c) => c.json(GatewayError.notFound("route").toBody(), 404));
  app.onError((error, c) => {
    const rendered = renderError(error);
    // Anthropic's SDK reads its own error shape; every other route speaks OpenAI's.
    const body = ANTHROPIC_PATH.test(c.req.path) ? rendered.toAnthropicBody() : rendered.toBody();
    return c.json(body, rendered.status, rendered.headers);
  });
  return app;
}
