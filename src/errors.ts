import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorCode =
  | "invalid_request"
  | "invalid_api_key"
  | "key_revoked"
  | "budget_exceeded"
  | "not_found"
  | "idempotency_conflict"
  | "payload_too_large"
  | "rate_limited"
  | "concurrency_limited"
  | "upstream_error"
  | "no_healthy_provider"
  | "deadline_exceeded"
  | "budget_unavailable"
  | "csrf_rejected"
  | "internal_error"
  | "session_limit_exceeded"
  | "loop_detected"
  | "guardrail_blocked";

const TYPES: Record<ErrorCode, string> = {
  invalid_request: "invalid_request_error",
  invalid_api_key: "authentication_error",
  key_revoked: "authentication_error",
  budget_exceeded: "insufficient_quota",
  not_found: "not_found_error",
  idempotency_conflict: "invalid_request_error",
  payload_too_large: "invalid_request_error",
  rate_limited: "rate_limit_error",
  concurrency_limited: "rate_limit_error",
  upstream_error: "api_error",
  no_healthy_provider: "api_error",
  deadline_exceeded: "timeout_error",
  budget_unavailable: "api_error",
  csrf_rejected: "permission_error",
  internal_error: "api_error",
  // 403: the SDKs treat it as final and do not retry, which is the point of a session limit.
  session_limit_exceeded: "permission_error",
  loop_detected: "permission_error",
  guardrail_blocked: "invalid_request_error",
};

const ANTHROPIC_TYPES: Partial<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  409: "invalid_request_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  502: "api_error",
  503: "overloaded_error",
  504: "timeout_error",
};

/** The one error class. Everything that leaves Tollgate as an error goes through `toBody()`. */
export class GatewayError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }

  toBody(): { error: { message: string; type: string; code: ErrorCode; param: string | null } } {
    return { error: { message: this.message, type: TYPES[this.code], code: this.code, param: this.param } };
  }

  /**
   * The Anthropic Messages shape, for /v1/messages: `type` from Anthropic's list for the status, which
   * is what its SDK maps to error classes; `code` and `param` ride along for callers that read them.
   */
  toAnthropicBody(): { type: "error"; error: { type: string; message: string; code: ErrorCode; param: string | null } } {
    return { type: "error", error: { type: ANTHROPIC_TYPES[this.status] ?? (this.status >= 500 ? "api_error" : "invalid_request_error"), message: this.message, code: this.code, param: this.param } };
  }

  static invalid(message: string, param: string | null = null): GatewayError {
    return new GatewayError(400, "invalid_request", message, param);
  }

  static notFound(what = "resource"): GatewayError {
    return new GatewayError(404, "not_found", `No such ${what}`);
  }
}
