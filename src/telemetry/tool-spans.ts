import type { RequestTrace } from "./request-trace";
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_TOLLGATE_ATTEMPTS,
  ATTR_TOLLGATE_CACHE,
  ATTR_TOLLGATE_COST_USD,
  ATTR_TOLLGATE_MCP_SERVER,
  ATTR_TOLLGATE_REQUEST_ID,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
} from "./semconv";
import { SpanKind } from "./span";

export interface ToolCallInfo {
  server: string;
  tool: string;
  callId: string;
  arguments?: Record<string, unknown>;
}

/** What a finished tool call's ledger row says (structural: telemetry imports nothing of the MCP gateway). */
export interface ToolOutcome {
  status: number;
  error_code: string | null;
  cost_usd: number;
  cache: string;
  attempts: number;
}

/**
 * The execute_tool span of one tools/call: INTERNAL, as the conventions ask (the gateway runs the tool
 * call on the agent's behalf). Its error.type is Tollgate's error code (tool_error, tool_refused,
 * deadline_exceeded, upstream_error, concurrency_limited, ...). Arguments are content: opt-in only.
 */
export function toolSpan(trace: RequestTrace, info: ToolCallInfo): { finish(outcome: ToolOutcome): void } {
  const span = trace.child(`${GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL} ${info.tool}`, SpanKind.INTERNAL);
  span.set(ATTR_GEN_AI_OPERATION_NAME, GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL).set(ATTR_GEN_AI_TOOL_NAME, info.tool).set(ATTR_GEN_AI_TOOL_TYPE, "extension");
  span.set(ATTR_TOLLGATE_MCP_SERVER, info.server).set(ATTR_TOLLGATE_REQUEST_ID, info.callId);
  if (trace.contentAllowed() && info.arguments) span.set(ATTR_GEN_AI_TOOL_CALL_ARGUMENTS, JSON.stringify(info.arguments));
  return {
    finish(outcome) {
      span.set(ATTR_TOLLGATE_CACHE, outcome.cache).set(ATTR_TOLLGATE_ATTEMPTS, outcome.attempts).setDouble(ATTR_TOLLGATE_COST_USD, outcome.cost_usd);
      if (outcome.error_code) span.fail(ATTR_ERROR_TYPE, outcome.error_code);
      span.end();
    },
  };
}
