/**
 * Attribute names, from OpenTelemetry's own package so they cannot drift from the conventions: the GenAI
 * names come from its incubating entry (semantic conventions v1.41.0, the GenAI registry as published in
 * @opentelemetry/semantic-conventions 1.45.0, pinned exactly because incubating names may change in a
 * minor release). The package is side-effect free, so the bundle keeps only the strings used here.
 */
export {
  ATTR_DEPLOYMENT_ENVIRONMENT_NAME,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
export {
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
} from "@opentelemetry/semantic-conventions/incubating";

/** The conventions version the names and span shapes follow (docs/governance.md says the same). */
export const GENAI_SEMCONV_VERSION = "1.41.0";

/** Tollgate's own attributes, in its own namespace as the conventions ask of custom attributes. */
export const ATTR_TOLLGATE_TENANT = "tollgate.tenant";
export const ATTR_TOLLGATE_REQUEST_ID = "tollgate.request_id";
export const ATTR_TOLLGATE_CACHE = "tollgate.cache";
export const ATTR_TOLLGATE_COST_USD = "tollgate.cost_usd";
export const ATTR_TOLLGATE_SAVED_USD = "tollgate.saved_usd";
export const ATTR_TOLLGATE_TIER = "tollgate.tier";
export const ATTR_TOLLGATE_MODEL = "tollgate.model";
export const ATTR_TOLLGATE_ATTEMPTS = "tollgate.attempts";
export const ATTR_TOLLGATE_MCP_SERVER = "tollgate.mcp.server";
