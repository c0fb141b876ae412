import { sha256Hex } from "../auth/key-hash";
import type { Tier } from "../config/model-catalog";
import { type ChatMessage, type ChatRequest, messageText } from "../validate/chat-request";

// Bump when the key material changes shape, so old entries simply stop matching.
const KEY_VERSION = 1;

// Transport-only fields: they change how the answer is delivered, never what it says. Everything
// else, including fields this gateway has never heard of, is part of the key: leaving out a field
// that changes the answer is the classic cache bug, while including one too many only costs a miss.
const TRANSPORT_FIELDS = new Set(["stream", "stream_options"]);

/** What the request resolved to: the model asked for and the tier it will be served at. */
export interface KeyIdentity {
  model: string;
  tier: Tier;
  /** `<name>@<version>` of the registered prompt that built the request: versions never share answers. */
  prompt?: string;
}

/** Sorted keys at every depth, so two bodies that differ only in key order hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/**
 * Whitespace that does not change the question: line endings, trailing spaces, runs of spaces inside a
 * line, blank lines at either end. Leading indentation is kept, because in code it is meaning.
 */
export function normaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((line) => {
      if (line.trim() === "") return "";
      const indent = line.match(/^[ \t]*/)?.[0] ?? "";
      return indent + line.slice(indent.length).replace(/[ \t]+/g, " ").trimEnd();
    })
    .join("\n")
    .replace(/^\n+|\n+$/g, "");
}

function normaliseMessage(message: ChatMessage): ChatMessage {
  const { content } = message;
  if (typeof content === "string") return { ...message, content: normaliseText(content) };
  if (!Array.isArray(content)) return message;
  return {
    ...message,
    content: content.map((part) => (part.type === "text" && typeof part.text === "string" ? { ...part, text: normaliseText(part.text) } : part)),
  };
}

/** The request minus transport fields and explicit nulls (null means "provider default", same as absent). */
function answerFields(req: ChatRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(req)) {
    if (TRANSPORT_FIELDS.has(field) || field === "model" || value === null || value === undefined) continue;
    out[field] = field === "messages" ? req.messages.map(normaliseMessage) : value;
  }
  return out;
}

/** SHA-256 over everything that can change the answer, the tenant first. */
export function exactKey(tenantId: string, identity: KeyIdentity, req: ChatRequest): Promise<string> {
  return sha256Hex(canonicalJson({ v: KEY_VERSION, tenant: tenantId, model: identity.model, tier: identity.tier, prompt: identity.prompt, request: answerFields(req) }));
}

/** The last message, when it is a plain-text user turn: the only part a semantic match may vary. */
export function semanticQuestion(req: ChatRequest): string | undefined {
  const last = req.messages.at(-1);
  if (!last || last.role !== "user") return undefined;
  if (Array.isArray(last.content) && last.content.some((part) => part.type !== "text")) return undefined;
  const text = normaliseText(messageText(last));
  return text === "" ? undefined : text;
}

/**
 * Everything but the last user turn's text: system prompt, earlier turns, tools, response_format,
 * sampling and the resolved model or tier. Two requests may share a semantic entry only inside one scope.
 * The embedder is part of it too: vectors from two embedders are not comparable, even at equal dimensions.
 */
export function scopeHash(tenantId: string, identity: KeyIdentity, req: ChatRequest, embedderId: string): Promise<string> {
  const fields = answerFields(req);
  const messages = fields.messages as ChatMessage[];
  const last = messages.at(-1);
  fields.messages = [...messages.slice(0, -1), { ...last, content: "\u0000question" }];
  return sha256Hex(canonicalJson({ v: KEY_VERSION, embedder: embedderId, tenant: tenantId, model: identity.model, tier: identity.tier, prompt: identity.prompt, request: fields }));
}
