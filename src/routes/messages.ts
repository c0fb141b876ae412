import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { AppEnv } from "../hono-env";
import { countPromptTokens } from "../tokens/count-tokens";
import { parseJsonBody } from "../validate/parse-json-body";
import { AnthropicStreamWriter, MessagesRequestSchema, toAnthropicMessage, toChatRequest } from "./anthropic-translate";
import { serveChat, stage } from "./chat-context";

/** POST /v1/messages: the Anthropic shape outside, the same pipeline inside. */
export const messagesRoutes = new Hono<AppEnv>().post("/messages", async (c) => {
  const body = await stage(c, "validate", () => parseJsonBody(c, MessagesRequestSchema));
  const req = toChatRequest(body);
  const outcome = await serveChat(c, req);
  if (outcome.kind === "completion") return c.json(toAnthropicMessage(outcome.completion));

  return streamSSE(c, async (sse) => {
    const { chunks } = outcome;
    sse.onAbort(() => void chunks.return());
    const writer = new AnthropicStreamWriter();
    const send = async (events: { event: string; data: unknown }[]) => {
      for (const e of events) await sse.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
    };
    await send(writer.start(`chatcmpl-${c.var.requestId}`, outcome.meta.model, countPromptTokens(req)));
    try {
      for await (const chunk of chunks) await send(writer.chunk(chunk));
    } catch (error) {
      const message = `Upstream stream failed: ${error instanceof Error ? error.message : String(error)}`;
      await send([{ event: "error", data: { type: "error", error: { type: "api_error", message } } }]);
      return;
    }
    const { usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } = await outcome.done;
    await send(writer.end(usage));
  });
});
