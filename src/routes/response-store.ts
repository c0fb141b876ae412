import type { ChatMessage } from "../validate/chat-request";
import { newId, type ResponseBody } from "./responses-output";
import type { InputItem, ResponsesRequest } from "./responses-translate";

// Stored responses (`store`, `previous_response_id`, GET/DELETE /v1/responses/:id) live in KV with a TTL.
// The tenant is part of the key, so another tenant's id is simply absent: a 404, never a leak.

const TTL_S = 30 * 24 * 3600; // OpenAI keeps stored responses for 30 days.

export type InputItemResource = Record<string, unknown> & { id: string; type: string };

export interface StoredResponse {
  response: ResponseBody;
  /** The whole conversation up to and including this answer, as Chat messages, without instructions. */
  conversation: ChatMessage[];
  inputItems: InputItemResource[];
}

const key = (tenantId: string, id: string) => `responses:v1:${tenantId}:${id}`;

export async function loadResponse(kv: KVNamespace, tenantId: string, id: string): Promise<StoredResponse | null> {
  return kv.get<StoredResponse>(key(tenantId, id), "json");
}

export async function saveResponse(kv: KVNamespace, tenantId: string, stored: StoredResponse): Promise<void> {
  await kv.put(key(tenantId, stored.response.id), JSON.stringify(stored), { expirationTtl: TTL_S });
}

export async function deleteResponse(kv: KVNamespace, tenantId: string, id: string): Promise<boolean> {
  if ((await kv.get(key(tenantId, id))) === null) return false;
  await kv.delete(key(tenantId, id));
  return true;
}

/** The request's input as the item resources GET /v1/responses/:id/input_items lists. */
export function inputItemResources(input: ResponsesRequest["input"]): InputItemResource[] {
  const items: InputItem[] = typeof input === "string" ? [{ type: "message", role: "user", content: input }] : input;
  return items.map((item) => {
    if (item.type === "function_call") return { ...item, id: item.id ?? newId("fc"), status: "completed" };
    if (item.type === "function_call_output") return { ...item, id: item.id ?? newId("fco"), status: "completed" };
    if (item.type === "reasoning") return { ...item, id: typeof item.id === "string" ? item.id : newId("rs") };
    const partType = item.role === "assistant" ? "output_text" : "input_text";
    const content = typeof item.content === "string" ? [{ type: partType, text: item.content }] : item.content;
    return { ...item, type: "message", id: item.id ?? newId("msg"), status: "completed", content };
  });
}
