import { GatewayError } from "../errors";
import type { BatchEndpoint } from "../files/batch-links";
import type { ChatCompletion } from "../providers/provider-types";
import { type EmbeddingsRequest, EmbeddingsRequestSchema, type EmbeddingsWork } from "../validate/embeddings-request";
import { validate } from "../validate/parse-json-body";
import { completionBody } from "./openai-render";
import { completionOutput, newId, responseObject } from "./responses-output";
import { type ResponsesRequest, ResponsesRequestSchema, toChatRequest } from "./responses-translate";

// OpenAI's batch line formats. Input: {custom_id, method, url, body} per line. Output and error files:
// {id, custom_id, response: {status_code, request_id, body} | null, error: {code, message} | null}.

export interface InputLine {
  custom_id: string;
  method?: "POST";
  body: unknown;
  /** The Responses request a /v1/responses line carried, to shape its answer back. */
  responses?: ResponsesRequest;
}

function lineError(n: number, message: string): GatewayError {
  return GatewayError.invalid(`input_file_id: line ${n}: ${message}`, "input_file_id");
}

/** The file's lines as batch items; /v1/responses bodies become the ChatRequest the pipeline runs. */
export function parseInputLines(text: string, endpoint: BatchEndpoint): InputLine[] {
  const lines = text.split("\n").map((l) => l.trim());
  const items: InputLine[] = [];
  lines.forEach((line, i) => {
    if (!line) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw lineError(i + 1, "not valid JSON");
    }
    if (!raw || typeof raw !== "object" || !("custom_id" in raw) || typeof raw.custom_id !== "string" || !("body" in raw)) throw lineError(i + 1, "needs custom_id and body");
    const url = "url" in raw ? raw.url : endpoint;
    if (url !== endpoint) throw lineError(i + 1, `url '${String(url).slice(0, 64)}' differs from the batch's endpoint ${endpoint}`);
    if ("method" in raw && raw.method !== "POST") throw lineError(i + 1, "method must be POST");
    if (endpoint === "/v1/chat/completions") {
      items.push({ custom_id: raw.custom_id, method: "POST", body: raw.body });
      return;
    }
    if (endpoint === "/v1/embeddings") {
      let embeddings: EmbeddingsRequest;
      try {
        embeddings = validate(EmbeddingsRequestSchema, raw.body);
      } catch (error) {
        throw lineError(i + 1, error instanceof Error ? error.message : "invalid embeddings body");
      }
      const work: EmbeddingsWork = { kind: "embeddings", model: embeddings.model, input: embeddings.input, ...(embeddings.encoding_format ? { encoding_format: embeddings.encoding_format } : {}) };
      items.push({ custom_id: raw.custom_id, method: "POST", body: work });
      return;
    }
    let responses: ResponsesRequest;
    try {
      responses = validate(ResponsesRequestSchema, raw.body);
    } catch (error) {
      throw lineError(i + 1, error instanceof Error ? error.message : "invalid Responses body");
    }
    if (responses.previous_response_id || responses.stream) throw lineError(i + 1, "previous_response_id and stream are not available in a batch");
    items.push({ custom_id: raw.custom_id, method: "POST", body: toChatRequest(responses, []), responses });
  });
  if (items.length === 0) throw GatewayError.invalid("input_file_id: the file has no request lines", "input_file_id");
  return items;
}

export interface ItemRow {
  id: string;
  custom_id: string;
  status: string;
  result_json: string | null;
  error_json: string | null;
}

function answerBody(response: unknown, endpoint: BatchEndpoint, request: ResponsesRequest | undefined) {
  // An embeddings item stored the list body a client of /v1/embeddings gets.
  if (endpoint === "/v1/embeddings") return response;
  const completion = response as ChatCompletion;
  if (endpoint === "/v1/chat/completions") return completionBody(completion);
  const body = request ?? { model: completion.model, input: "" };
  const { output, finish } = completionOutput(completion);
  return responseObject({ id: newId("resp"), createdAt: completion.created, model: completion.model }, body, output, finish, completion.usage);
}

/** The output file (answered lines) and the error file (failed, dead and cancelled lines), in item order. */
export function outputFiles(rows: ItemRow[], endpoint: BatchEndpoint, requests: Map<string, ResponsesRequest>): { output: string; errors: string } {
  let output = "";
  let errors = "";
  for (const row of rows) {
    const id = `batch_req_${row.id}`;
    if (row.status === "succeeded" && row.result_json) {
      const stored = JSON.parse(row.result_json) as { response: unknown };
      const body = answerBody(stored.response, endpoint, requests.get(row.custom_id));
      output += `${JSON.stringify({ id, custom_id: row.custom_id, response: { status_code: 200, request_id: row.id, body }, error: null })}\n`;
      continue;
    }
    const stored = row.error_json ? (JSON.parse(row.error_json) as { code?: string; message?: string }) : null;
    const error =
      row.status === "cancelled"
        ? { code: "batch_cancelled", message: "The batch was cancelled before this request ran" }
        : { code: stored?.code ?? "request_failed", message: stored?.message ?? `The request ended ${row.status}` };
    errors += `${JSON.stringify({ id, custom_id: row.custom_id, response: null, error })}\n`;
  }
  return { output, errors };
}
