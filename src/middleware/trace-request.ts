import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../hono-env";
import type { LedgerEvent } from "../ledger/ledger-event";
import { RequestTrace } from "../telemetry/request-trace";
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_TOLLGATE_CACHE,
  ATTR_TOLLGATE_COST_USD,
  ATTR_TOLLGATE_MODEL,
  ATTR_TOLLGATE_REQUEST_ID,
  ATTR_TOLLGATE_SAVED_USD,
  ATTR_TOLLGATE_TENANT,
  ATTR_TOLLGATE_TIER,
  ATTR_URL_PATH,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from "../telemetry/semconv";
import { StatusCode } from "../telemetry/span";

/** The GenAI operation behind each model endpoint; other routes carry none. */
const OPERATIONS: Record<string, string> = {
  "/v1/chat/completions": GEN_AI_OPERATION_NAME_VALUE_CHAT,
  "/v1/messages": GEN_AI_OPERATION_NAME_VALUE_CHAT,
  "/v1/responses": GEN_AI_OPERATION_NAME_VALUE_CHAT,
  "/v1/embeddings": GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
};

/**
 * The SERVER span of every /v1 request, when OTEL_EXPORTER_OTLP_ENDPOINT is set (with none, this is one
 * env read). It continues an incoming `traceparent`, answers with its own, and ends with what the
 * ledger row says: for a stream, after the last token.
 */
export const traceRequest: MiddlewareHandler<AppEnv> = async function traceRequest(c, next) {
  // Checked first, so a gateway without an endpoint allocates nothing here at all.
  if (!c.env.OTEL_EXPORTER_OTLP_ENDPOINT) return next();
  const trace = RequestTrace.start(c.env, {
    name: c.req.method,
    traceparent: c.req.header("traceparent"),
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    contentAllowed: () => c.var.tenant?.policy.telemetry.content === true,
  });
  if (!trace) return next();
  c.set("trace", trace);
  c.header("traceparent", trace.traceparent());
  await next();
  // Routes that build their own Response (MCP) skipped the header set above.
  if (!c.res.headers.has("traceparent")) {
    try {
      c.res.headers.set("traceparent", trace.traceparent());
    } catch {
      // An immutable response (passed through from a fetch) keeps its headers.
    }
  }

  const span = trace.server;
  const route = routePath(c, -1);
  span.name = `${c.req.method} ${route}`;
  span.set(ATTR_HTTP_REQUEST_METHOD, c.req.method).set(ATTR_HTTP_ROUTE, route).set(ATTR_URL_PATH, c.req.path);
  span.set(ATTR_GEN_AI_OPERATION_NAME, c.req.method === "POST" ? OPERATIONS[c.req.path] : undefined);
  const status = c.res.status;
  const finish = (event: LedgerEvent | undefined) => {
    span.set(ATTR_HTTP_RESPONSE_STATUS_CODE, status).set(ATTR_TOLLGATE_REQUEST_ID, c.var.requestId).set(ATTR_TOLLGATE_TENANT, c.var.tenant?.tenantId);
    if (event && OPERATIONS[c.req.path]) {
      span.set(ATTR_TOLLGATE_CACHE, event.cache).set(ATTR_TOLLGATE_TIER, event.tier).set(ATTR_TOLLGATE_MODEL, event.model || undefined);
      span.setDouble(ATTR_TOLLGATE_COST_USD, event.cost_usd).setDouble(ATTR_TOLLGATE_SAVED_USD, event.saved_usd);
    }
    // HTTP server spans are errors on 5xx only: a 4xx is the client's, the server did its job.
    const final = event?.status && event.status >= 500 ? event.status : status;
    if (final >= 500) span.fail(ATTR_ERROR_TYPE, String(final));
    else span.status = { code: StatusCode.UNSET };
    trace.finish();
  };
  const ledger = c.var.ledger;
  // A stream's row is final only after its last token; the span waits for it, off the response's path.
  if (ledger?.event.stream) c.executionCtx.waitUntil(ledger.finalize(status).then(finish, () => finish(undefined)));
  else finish(ledger?.event);
};
