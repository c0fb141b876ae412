import type { Tier } from "../config/model-catalog";
import { type ChatRequest, messageText } from "../validate/chat-request";

// Deterministic answers: the same prompt and tier always give the same text, so caches, idempotency
// and tests can compare responses byte for byte.
function hash32(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the answer depends on context but in short it is usually best to start small measure carefully and then " +
  "adjust the approach as evidence arrives because each step informs the next one and keeps risk low while " +
  "results stay clear consistent and easy to verify for everyone involved"
).split(" ");

const LENGTH: Record<Tier, [number, number]> = { fast: [18, 36], balanced: [40, 80], powerful: [80, 140] };

export interface SimAnswer {
  content: string | null;
  toolCall?: { name: string; arguments: string };
}

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema; enum?: unknown[] };

function sampleValue(schema: JsonSchema, depth: number, text: string): unknown {
  if (schema.enum?.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object" || schema.properties) {
    const out: Record<string, unknown> = {};
    if (depth < 6) for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = sampleValue(sub, depth + 1, text);
    return out;
  }
  if (type === "array") return depth < 6 && schema.items ? [sampleValue(schema.items, depth + 1, text)] : [];
  if (type === "integer" || type === "number") return text.length % 100;
  if (type === "boolean") return text.length % 2 === 0;
  if (type === "null") return null;
  return text.slice(0, 40);
}

/** A fast model cannot follow big or nested schemas: it drops every required field past the third. */
function fastTierDropsFields(schema: JsonSchema): boolean {
  const props = Object.values(schema.properties ?? {});
  return props.length > 3 || props.some((p) => p.type === "object" || p.type === "array");
}

export function simAnswer(req: ChatRequest, tier: Tier): SimAnswer {
  const lastUser = [...req.messages].reverse().find((m) => m.role === "user");
  const prompt = lastUser ? messageText(lastUser) : "";
  const random = prng(hash32(`${tier}\u0000${prompt}`));
  const hasToolResult = req.messages.at(-1)?.role === "tool";
  const choice = req.tool_choice;
  const named = typeof choice === "object" ? choice.function.name : undefined;
  const tool =
    req.tools?.length && choice !== "none" && !hasToolResult
      ? named
        ? req.tools.find((t) => t.function.name === named)
        : req.tools[0]
      : undefined;
  if (tool) {
    const args = sampleValue(tool.function.parameters ?? { type: "object" }, 0, prompt);
    return { content: null, toolCall: { name: tool.function.name, arguments: JSON.stringify(args) } };
  }
  const format = req.response_format;
  if (format?.type === "json_schema") {
    const schema = (format.json_schema.schema ?? { type: "object" }) as JsonSchema;
    const value = sampleValue(schema, 0, prompt);
    if (tier === "fast" && fastTierDropsFields(schema) && value && typeof value === "object") {
      for (const key of Object.keys(value).slice(3)) delete (value as Record<string, unknown>)[key];
    }
    return { content: JSON.stringify(value) };
  }
  const [min, max] = LENGTH[tier];
  const count = min + Math.floor(random() * (max - min));
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(random() * WORDS.length)] ?? "ok");
  const topic = prompt.split(/\s+/).filter(Boolean).slice(0, 8).join(" ");
  const text = `On "${topic}": ${words.join(" ")}.`;
  return { content: format?.type === "json_object" ? JSON.stringify({ answer: text }) : text };
}

/** Per-token log-probability the sim reports: weaker tiers are less sure on long or technical prompts. */
export function simLogprob(tier: Tier, req: ChatRequest): number {
  const text = req.messages.map(messageText).join("\n");
  const hard = text.length > 600 || /```|\b(prove|derive|integral|theorem|optimi[sz]e)\b|[=+*/^]\s*\d/i.test(text);
  if (tier === "powerful") return -0.05;
  if (tier === "balanced") return hard ? -0.4 : -0.1;
  return hard ? -1.6 : -0.15;
}
