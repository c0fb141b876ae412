import { Hono } from "hono";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import { ChatRequestSchema } from "../validate/chat-request";
import { parseJsonBody } from "../validate/parse-json-body";
import { serveChat, stage } from "./chat-context";
import { chunkBody, completionBody } from "./openai-render";
import { sseData, sseResponse } from "./sse-response";

export const chatRoutes = new Hono<AppEnv>().post("/chat/completions", async (c) => {
  const req = await stage(c, "validate", () => parseJsonBody(c, ChatRequestSchema));
  const outcome = await serveChat(c, req);
  if (outcome.kind === "completion") return c.json({ ...completionBody(outcome.completion), ...(outcome.meta.retrieval ? { retrieval: outcome.meta.retrieval } : {}) });

  const includeUsage = req.stream_options?.include_usage === true;
  const { chunks, done } = outcome;
  async function* events(): AsyncGenerator<string, void, void> {
    let last: { id: string; created: number; model: string } | undefined;
    try {
      for await (const chunk of chunks) {
        last = chunk;
        yield sseData(JSON.stringify(includeUsage ? { ...chunkBody(chunk), usage: null } : chunkBody(chunk)));
      }
    } catch (error) {
      // After the first byte there is no falling back: end with an error event the SDKs understand.
      const failure = new GatewayError(502, "upstream_error", `Upstream stream failed: ${error instanceof Error ? error.message : String(error)}`);
      yield sseData(JSON.stringify(failure.toBody()));
      return;
    }
    if (includeUsage && last) {
      // The answer's own token counts: for a cache hit they are the cached answer's, though nothing was billed.
      const { usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } } = await done;
      yield sseData(
        JSON.stringify({
          id: last.id,
          object: "chat.completion.chunk",
          created: last.created,
          model: last.model,
          choices: [],
          usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        }),
      );
    }
    yield sseData("[DONE]");
  }
  return sseResponse(c, events(), () => void chunks.return());
});
