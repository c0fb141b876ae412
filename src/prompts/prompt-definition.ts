import * as z from "zod";
import { TierSchema } from "../config/model-catalog";
import { GatewayError } from "../errors";

/** Names clients put in URLs and in `prompt.id`. */
export const PROMPT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// `{{ name }}`: whitespace inside the braces is allowed, anything else between them is not a placeholder.
const PLACEHOLDER = /\{\{\s*([^{}\s]*)\s*\}\}/g;
const MAX_TEMPLATE = 100_000;

const TemplateMessageSchema = z
  .object({ role: z.enum(["system", "developer", "user", "assistant"]), content: z.string().min(1).max(MAX_TEMPLATE) })
  .strict();

/** Defaults a version gives the request; what the request sets itself wins. */
export const PromptParametersSchema = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_completion_tokens: z.number().int().positive().max(1_000_000).optional(),
    seed: z.number().int().optional(),
    stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]).optional(),
  })
  .strict();
export type PromptParameters = z.infer<typeof PromptParametersSchema>;

/** PUT /v1/prompts/:name: either one templated message or a list of them. */
export const PromptVersionInputSchema = z
  .object({
    template: z.string().min(1).max(MAX_TEMPLATE).optional(),
    /** The role of the `template` message (default `user`). */
    role: z.enum(["system", "developer", "user"]).optional(),
    messages: z.array(TemplateMessageSchema).min(1).max(64).optional(),
    variables: z.array(z.string().regex(VARIABLE_NAME, "a variable name is a letter or _ then letters, digits or _")).max(64).optional(),
    model: z.string().min(1).max(256).optional(),
    tier: TierSchema.optional(),
    parameters: PromptParametersSchema.optional(),
  })
  .strict()
  .refine((v) => (v.template === undefined) !== (v.messages === undefined), { message: "Give exactly one of 'template' or 'messages'", path: ["template"] })
  .refine((v) => v.model === undefined || v.tier === undefined, { message: "Give 'model' or 'tier', not both", path: ["tier"] })
  .refine((v) => v.role === undefined || v.template !== undefined, { message: "'role' applies to 'template' only", path: ["role"] });
export type PromptVersionInput = z.infer<typeof PromptVersionInputSchema>;

export interface TemplateMessage {
  role: "system" | "developer" | "user" | "assistant";
  content: string;
}

/** A stored, immutable version. */
export interface PromptVersion {
  version: number;
  messages: TemplateMessage[];
  variables: string[];
  model: string | null;
  tier: z.infer<typeof TierSchema> | null;
  parameters: PromptParameters;
  created_at: number;
}

export function placeholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? "");
}

/**
 * The messages and variables a PUT body defines. The template's placeholders and the declared
 * variables must agree exactly: a typo in either would otherwise ship a prompt that never fills in.
 */
export function defineVersion(input: PromptVersionInput): Omit<PromptVersion, "version" | "created_at"> {
  const messages: TemplateMessage[] = input.messages ?? [{ role: input.role ?? "user", content: input.template ?? "" }];
  const used = [...new Set(messages.flatMap((m) => placeholders(m.content)))];
  const bad = used.find((name) => !VARIABLE_NAME.test(name));
  if (bad !== undefined) throw GatewayError.invalid(`Placeholder '{{${bad.slice(0, 64)}}}' is not a valid variable name`, "template");
  const declared = input.variables;
  if (declared) {
    const undeclared = used.filter((name) => !declared.includes(name));
    if (undeclared.length) throw GatewayError.invalid(`The template uses ${undeclared.map((n) => `{{${n}}}`).join(", ")}, not listed in 'variables'`, "variables");
    const unused = declared.filter((name) => !used.includes(name));
    if (unused.length) throw GatewayError.invalid(`'variables' lists ${unused.join(", ")}, which the template never uses`, "variables");
  }
  return { messages, variables: used, model: input.model ?? null, tier: input.tier ?? null, parameters: input.parameters ?? {} };
}

/** Fills a version's placeholders; unknown and missing variables are the caller's error, named. */
export function renderVersion(version: PromptVersion, name: string, values: Record<string, string | number | boolean>): TemplateMessage[] {
  const unknown = Object.keys(values).filter((key) => !version.variables.includes(key));
  if (unknown.length) throw GatewayError.invalid(`Prompt '${name}' version ${version.version} has no variable ${unknown.map((k) => `'${k.slice(0, 64)}'`).join(", ")}; it takes: ${version.variables.join(", ") || "none"}`, "prompt.variables");
  const missing = version.variables.filter((key) => !(key in values));
  if (missing.length) throw GatewayError.invalid(`Prompt '${name}' version ${version.version} needs variable ${missing.map((k) => `'${k}'`).join(", ")}`, "prompt.variables");
  // One pass per message, so a value that itself contains `{{x}}` is never expanded again.
  return version.messages.map((m) => ({ role: m.role, content: m.content.replace(PLACEHOLDER, (_all, key: string) => String(values[key])) }));
}
