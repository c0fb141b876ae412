import type { ChatChunk, ChatCompletion } from "../providers/provider-types";
import { checkJsonFormat } from "../routing/answer-check";
import type { ChatRequest } from "../validate/chat-request";
import { scansAnswers } from "./guardrail-settings";
import { PiiPlaceholders } from "./pii-placeholders";
import type { GuardedContext, RequestGuard } from "./request-guard";
import { filterChunks, StreamingRedactor, StreamingRestorer } from "./streaming-text-filter";

/** Numbers for answer placeholders continue the request's, so `[EMAIL_2]` in an answer is never the caller's `[EMAIL_1]`. */
const answerPlaceholders = (guard: RequestGuard): PiiPlaceholders => {
  const out = new PiiPlaceholders();
  return guard.placeholders ? out.continueFrom(guard.placeholders) : out;
};

function noteOutputPii(guard: RequestGuard, placeholders: PiiPlaceholders): void {
  if (placeholders.total) guard.note("output_pii", `redacted:${placeholders.total}`, { action: "redacted", count: placeholders.total, kinds: Object.fromEntries(placeholders.counts) });
}

/**
 * Output checks on a whole answer, before it is cached: the JSON schema the request asked for (a
 * failing answer is refused, never cached), then personal data the model produced, redacted. The
 * cached answer is the checked one; restoring the caller's own values happens after, per request.
 */
export function guardAnswer(ctx: GuardedContext, req: ChatRequest, completion: ChatCompletion): ChatCompletion {
  const guard = ctx.guard;
  if (!guard) return completion;
  const choice = completion.choices[0];
  if (guard.settings.output_schema && choice && !choice.message.tool_calls?.length) {
    const verdict = checkJsonFormat(choice.message.content ?? "", req);
    if (!verdict.ok) throw guard.blocked("output_schema", `The answer failed the requested JSON format: ${verdict.detail}`, { action: "blocked", reason: verdict.reason });
  }
  if (!scansAnswers(guard.settings)) return completion;
  const placeholders = answerPlaceholders(guard);
  const choices = completion.choices.map((c) => ({
    ...c,
    message: {
      ...c.message,
      content: typeof c.message.content === "string" ? placeholders.redact(c.message.content) : c.message.content,
      ...(c.message.tool_calls ? { tool_calls: c.message.tool_calls.map((call) => ({ ...call, function: { ...call.function, arguments: placeholders.redact(call.function.arguments) } })) } : {}),
    },
  }));
  noteOutputPii(guard, placeholders);
  return placeholders.total ? { ...completion, choices } : completion;
}

/**
 * The same checks on a stream, as it flows: personal data is redacted in flight (a value split across
 * chunks is still caught), and the JSON format is checked at the end. Headers are gone by then, so
 * what the stream's checks did is in the ledger row; the ledger waits for this stream to finish.
 */
export function guardStream(ctx: GuardedContext, req: ChatRequest, chunks: AsyncGenerator<ChatChunk, void, void>): AsyncGenerator<ChatChunk, void, void> {
  const guard = ctx.guard;
  const checksJson = guard?.settings.output_schema === true && req.response_format !== undefined && req.response_format.type !== "text";
  if (!guard || (!scansAnswers(guard.settings) && !checksJson)) return chunks;
  let finish: () => void = () => undefined;
  ctx.ledger.until(new Promise<void>((resolve) => (finish = resolve)));
  const placeholders = answerPlaceholders(guard);
  const redacted = scansAnswers(guard.settings) ? filterChunks(chunks, new StreamingRedactor(placeholders)) : chunks;
  return checkStreamEnd(redacted, req, checksJson, () => {
    noteOutputPii(guard, placeholders);
    finish();
  }, guard);
}

async function* checkStreamEnd(chunks: AsyncGenerator<ChatChunk, void, void>, req: ChatRequest, checksJson: boolean, onEnd: () => void, guard: RequestGuard): AsyncGenerator<ChatChunk, void, void> {
  let text = "";
  let tools = false;
  let complete = false;
  try {
    for await (const chunk of chunks) {
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? "";
        tools ||= (choice.delta.tool_calls?.length ?? 0) > 0;
      }
      yield chunk;
    }
    complete = true;
  } finally {
    if (checksJson && complete && !tools) {
      const verdict = checkJsonFormat(text, req);
      if (!verdict.ok) guard.note("output_schema", undefined, { action: "invalid", reason: verdict.reason, stream: true });
    }
    onEnd();
  }
}

/**
 * The last step before the response: `x-tollgate-guardrails`, and with `pii_restore` the caller's own
 * values back where the model echoed their placeholders (a cache hit is restored with this request's
 * values: the entry holds placeholders only).
 */
export type GuardedOutcome<M, D> = { kind: "completion"; completion: ChatCompletion; meta: M } | { kind: "stream"; chunks: AsyncGenerator<ChatChunk, void, void>; meta: M; done: D };

export function restoreOutcome<M extends { guardrails?: string }, D>(ctx: GuardedContext, outcome: GuardedOutcome<M, D>): GuardedOutcome<M, D> {
  const guard = ctx.guard;
  if (!guard) return outcome;
  outcome.meta.guardrails = guard.header;
  const placeholders = guard.settings.pii_restore ? guard.placeholders : undefined;
  if (!placeholders) return outcome;
  if (outcome.kind === "stream") return { ...outcome, chunks: filterChunks(outcome.chunks, new StreamingRestorer(placeholders)) };
  const choices = outcome.completion.choices.map((c) => ({
    ...c,
    message: {
      ...c.message,
      content: typeof c.message.content === "string" ? placeholders.restore(c.message.content) : c.message.content,
      ...(c.message.tool_calls ? { tool_calls: c.message.tool_calls.map((call) => ({ ...call, function: { ...call.function, arguments: placeholders.restore(call.function.arguments) } })) } : {}),
    },
  }));
  return { ...outcome, completion: { ...outcome.completion, choices } };
}
