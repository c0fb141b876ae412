import { Hono } from "hono";
import type { AppEnv } from "../hono-env";
import { countPromptTokens } from "../tokens/count-tokens";
import { parseJsonBody } from "../validate/parse-json-body";
import { AnthropicStreamWriter, CountTokensRequestSchema, MessagesRequestSchema, toAnthropicMessage, toChatRequest } from "./anthropic-translate";
import { serveChat, stage } from "./chat-context";
import { sseEvent, sseResponse } from "./sse-response";

/**
 * Message threads keep the conversation server-side; Tollgate keeps none, so a request carrying `thread`
 * holds only the new turn. This is the rejection the Anthropic SDK recovers from (400, error.details
 * .error_code `thread_unsupported_request`): its tool runner and threads drop `thread` and resend the full
 * history. Answering 200 instead would send the upstream a tool result with no history and no tools.
 */
function threadUnsupported() {
  return {
    type: "error",
    error: {
      type: "invalid_request_error",
      code: "thread_unsupported_request",
      param: "thread",
      message: "thread: this gateway does not hold message threads; send the full conversation without `thread`",
      details: { error_code: "thread_unsupported_request", unsupported: [] },
    },
  };
}

/** POST /v1/messages: the Anthropic shape outside, the same pipeline inside. */
export const messagesRoutes = new Hono<AppEnv>()
  .post("/messages/count_tokens", async (c) => {
    const body = await stage(c, "validate", () => parseJsonBody(c, CountTokensRequestSchema));
    return c.json({ input_tokens: countPromptTokens(toChatRequest({ ...body, max_tokens: 1 })) });
  })
  .post("/messages", async (c) => {
    const body = await stage(c, "validate", () => parseJsonBody(c, MessagesRequestSchema));
    if (body.thread != null) return c.json(threadUnsupported(), 400);
    const req = toChatRequest(body);
    const outcome = await serveChat(c, req);
    if (outcome.kind === "completion") return c.json(toAnthropicMessage(outcome.completion));

    const { chunks, done } = outcome;
    const id = `chatcmpl-${c.var.requestId}`;
    const model = outcome.meta.model;
    async function* events(): AsyncGenerator<string, void, void> {
      const writer = new AnthropicStreamWriter();
      const encode = (batch: { event: string; data: unknown }[]) => batch.map((e) => sseEvent(e.event, JSON.stringify(e.data))).join("");
      yield encode(writer.start(id, model, countPromptTokens(req)));
      try {
        for await (const chunk of chunks) yield encode(writer.chunk(chunk));
      } catch (error) {
        const message = `Upstream stream failed: ${error instanceof Error ? error.message : String(error)}`;
        yield sseEvent("error", JSON.stringify({ type: "error", error: { type: "api_error", message } }));
        return;
      }
      const { usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } = await done;
      yield encode(writer.end(usage));
    }
    return sseResponse(c, events(), () => void chunks.return());
  });
