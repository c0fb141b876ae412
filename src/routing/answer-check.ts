import { Validator } from "@cfworker/json-schema";
import type { ChatCompletion } from "../providers/provider-types";
import type { ChatRequest } from "../validate/chat-request";

export type AnswerFailure = "schema" | "empty" | "refusal" | "length" | "low_confidence";
export type AnswerVerdict = { ok: true } | { ok: false; reason: AnswerFailure; detail: string };

/** Mean per-token log-probability below this reads as a guess (≈ 37% average token probability). */
export const MIN_MEAN_LOGPROB = -1;

const REFUSAL = /^\s*(i'?m sorry|i am sorry|sorry,)?[^.]{0,40}\b(i can(no|')t|i cannot|i'?m (not able|unable)|i am (not able|unable)|i won'?t) (help|assist|comply|provide|do that)/i;

export interface CheckOptions {
  /** Tollgate set the output cap itself (the client did not): hitting it means the answer is cut. */
  capped: boolean;
  minMeanLogprob?: number;
}

/**
 * Is this answer good enough to return, or should the next tier be asked? Cheap checks only: the
 * cascade must cost less than always asking the big model.
 */
export function checkAnswer(completion: ChatCompletion, req: ChatRequest, options: CheckOptions): AnswerVerdict {
  const choice = completion.choices[0];
  if (!choice) return { ok: false, reason: "empty", detail: "no choices" };
  const content = choice.message.content ?? "";
  const hasTools = (choice.message.tool_calls?.length ?? 0) > 0;
  if (choice.message.refusal) return { ok: false, reason: "refusal", detail: choice.message.refusal.slice(0, 120) };
  if (!hasTools && content.trim() === "") return { ok: false, reason: "empty", detail: "empty answer" };
  if (!hasTools && REFUSAL.test(content.slice(0, 200))) return { ok: false, reason: "refusal", detail: content.slice(0, 120) };
  if (choice.finish_reason === "length" && options.capped) return { ok: false, reason: "length", detail: "the answer hit the output cap" };

  const format = checkJsonFormat(content, req);
  if (!format.ok) return format;

  const tokens = choice.logprobs?.content;
  if (tokens?.length) {
    const mean = tokens.reduce((sum, t) => sum + t.logprob, 0) / tokens.length;
    if (mean < (options.minMeanLogprob ?? MIN_MEAN_LOGPROB)) return { ok: false, reason: "low_confidence", detail: `mean logprob ${mean.toFixed(2)}` };
  }
  return { ok: true };
}

/** Does the answer parse as the JSON the request asked for (json_object, or json_schema and its schema)? */
export function checkJsonFormat(content: string, req: ChatRequest): AnswerVerdict {
  const format = req.response_format;
  if (format?.type !== "json_object" && format?.type !== "json_schema") return { ok: true };
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return { ok: false, reason: "schema", detail: "the answer is not JSON" };
  }
  const schema = format.type === "json_schema" ? format.json_schema.schema : undefined;
  if (!schema) return { ok: true };
  let errors: string[];
  try {
    const result = new Validator(schema as ConstructorParameters<typeof Validator>[0], "2020-12", false).validate(value);
    errors = result.valid ? [] : result.errors.map((e) => e.error);
  } catch {
    // A schema Tollgate cannot evaluate (a self-reference, an unresolvable $ref, a bad pattern)
    // cannot judge the answer either: keep it rather than escalate on a guess.
    errors = [];
  }
  return errors.length ? { ok: false, reason: "schema", detail: errors.join("; ").slice(0, 200) } : { ok: true };
}
