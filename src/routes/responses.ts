import { Hono } from "hono";
import * as z from "zod";
import { GatewayError } from "../errors";
import type { AppEnv } from "../hono-env";
import type { ChatMessage } from "../validate/chat-request";
import { parseJsonBody, validate } from "../validate/parse-json-body";
import { serveChat, stage } from "./chat-context";
import { deleteResponse, inputItemResources, loadResponse, saveResponse } from "./response-store";
import { completionOutput, newId, outputMessages, type ResponseBody, responseObject } from "./responses-output";
import { ResponsesStreamWriter } from "./responses-stream";
import { sseEvent, sseResponse } from "./sse-response";
import { itemsToMessages, ResponsesRequestSchema, toChatRequest } from "./responses-translate";

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(["asc", "desc"]).default("desc"),
  after: z.string().max(256).optional(),
});

/**
 * The OpenAI Responses API as a translation: the request becomes a ChatRequest and runs through the same
 * pipeline as /v1/chat/completions (auth, cache, admission, routing, escalation, ledger, headers); the
 * answer comes back as a Response object or the Responses event stream.
 */
export const responsesRoutes = new Hono<AppEnv>()
  .post("/responses", async (c) => {
    const body = await stage(c, "validate", () => parseJsonBody(c, ResponsesRequestSchema));
    const { tenantId } = c.var.tenant;
    let history: ChatMessage[] = [];
    if (body.previous_response_id) {
      const previous = await loadResponse(c.env.CACHE_KV, tenantId, body.previous_response_id);
      if (!previous) throw new GatewayError(404, "not_found", `No such response '${body.previous_response_id.slice(0, 100)}'`, "previous_response_id");
      history = previous.conversation;
    }
    const req = toChatRequest(body, history);
    const outcome = await serveChat(c, req);
    const shell = { id: newId("resp"), createdAt: Math.floor(Date.now() / 1000), model: outcome.meta.model };
    const persist = async (response: ResponseBody) => {
      if (body.store === false) return;
      const conversation = [...history, ...itemsToMessages(body.input), ...outputMessages(response.output)];
      await saveResponse(c.env.CACHE_KV, tenantId, { response, conversation, inputItems: inputItemResources(body.input) });
    };

    if (outcome.kind === "completion") {
      const { output, finish } = completionOutput(outcome.completion);
      const response = responseObject(shell, body, output, finish, outcome.completion.usage);
      await persist(response);
      return c.json(outcome.meta.retrieval ? { ...response, retrieval: outcome.meta.retrieval } : response);
    }

    const { chunks, done } = outcome;
    async function* events(): AsyncGenerator<string, void, void> {
      const writer = new ResponsesStreamWriter(shell, body);
      const encode = (batch: { type: string }[]) => batch.map((e) => sseEvent(e.type, JSON.stringify(e))).join("");
      yield encode(writer.start());
      try {
        for await (const chunk of chunks) yield encode(writer.chunk(chunk));
      } catch (error) {
        yield encode(writer.fail(`Upstream stream failed: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      const { usage } = await done;
      const { events: last, response } = writer.end(usage);
      await persist(response);
      yield encode(last);
    }
    return sseResponse(c, events(), () => void chunks.return());
  })
  .get("/responses/:id", async (c) => {
    const stored = await loadResponse(c.env.CACHE_KV, c.var.tenant.tenantId, c.req.param("id"));
    if (!stored) throw GatewayError.notFound("response");
    return c.json(stored.response);
  })
  .delete("/responses/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await deleteResponse(c.env.CACHE_KV, c.var.tenant.tenantId, id))) throw GatewayError.notFound("response");
    return c.json({ id, object: "response.deleted", deleted: true });
  })
  .get("/responses/:id/input_items", async (c) => {
    const query = validate(ListQuery, c.req.query());
    const stored = await loadResponse(c.env.CACHE_KV, c.var.tenant.tenantId, c.req.param("id"));
    if (!stored) throw GatewayError.notFound("response");
    const ordered = query.order === "asc" ? stored.inputItems : [...stored.inputItems].reverse();
    const start = query.after ? ordered.findIndex((item) => item.id === query.after) + 1 : 0;
    const data = ordered.slice(start, start + query.limit);
    return c.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + query.limit < ordered.length });
  });
