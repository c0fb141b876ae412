import * as z from "zod";
import { MetadataFilterSchema } from "../vectors/metadata-filter";

// Bounds keep hostile bodies cheap to reject; the 1 MiB body limit is the outer wall.
const MAX_MESSAGES = 2048;
const MAX_TEXT = 1_000_000;

const TextPartSchema = z.object({ type: z.literal("text"), text: z.string().max(MAX_TEXT) }).loose();
const OtherPartSchema = z.object({ type: z.string().min(1).max(64) }).loose();
export const ContentSchema = z.union([z.string().max(MAX_TEXT), z.array(z.union([TextPartSchema, OtherPartSchema])).max(256), z.null()]);

const ToolCallSchema = z
  .object({
    id: z.string().max(256),
    type: z.literal("function"),
    function: z.object({ name: z.string().max(256), arguments: z.string().max(MAX_TEXT) }),
  })
  .loose();
export type ToolCall = z.infer<typeof ToolCallSchema>;

const MessageSchema = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant", "tool"]),
    content: ContentSchema.optional(),
    name: z.string().max(256).optional(),
    tool_calls: z.array(ToolCallSchema).max(128).optional(),
    tool_call_id: z.string().max(256).optional(),
  })
  .loose();
export type ChatMessage = z.infer<typeof MessageSchema>;

const ToolSchema = z
  .object({
    type: z.literal("function"),
    function: z
      .object({
        name: z.string().min(1).max(64),
        description: z.string().max(16_384).optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
      })
      .loose(),
  })
  .loose();

const ResponseFormatSchema = z.union([
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z
      .object({
        name: z.string().min(1).max(64),
        schema: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      })
      .loose(),
  }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormatSchema>;

const TokenCountSchema = z.number().int().positive().max(1_000_000);

/** A registered prompt (PUT /v1/prompts/:name), in the shape OpenAI's Responses API uses. */
export const PromptRefSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "a prompt name is 1-64 letters, digits, '.', '_' or '-'"),
    version: z.coerce.number().int().positive().max(1_000_000).optional(),
    variables: z.record(z.string().max(64), z.union([z.string().max(MAX_TEXT), z.number(), z.boolean()])).optional(),
  })
  .strict();
export type PromptRef = z.infer<typeof PromptRefSchema>;
/** A grounded answer: the chunks of a tenant collection go into the prompt (src/retrieval/grounding.ts). */
export const RetrievalFieldSchema = z
  .object({
    collection: z.string().min(1).max(64),
    top_k: z.number().int().min(1).max(100).optional(),
    max_context_tokens: z.number().int().min(1).max(1_000_000).optional(),
    summarize: z.boolean().optional(),
    filter: MetadataFilterSchema.optional(),
  })
  .strict();
export type RetrievalField = z.infer<typeof RetrievalFieldSchema>;

export const ChatRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    // May be empty when `prompt` supplies the conversation (checked below).
    messages: z.array(MessageSchema).max(MAX_MESSAGES).default([]),
    max_tokens: TokenCountSchema.nullable().optional(),
    max_completion_tokens: TokenCountSchema.nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    n: z.literal(1).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]).nullable().optional(),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
    tools: z.array(ToolSchema).max(128).optional(),
    tool_choice: z
      .union([
        z.enum(["none", "auto", "required"]),
        z.object({ type: z.literal("function"), function: z.object({ name: z.string().max(64) }) }),
      ])
      .optional(),
    response_format: ResponseFormatSchema.optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    user: z.string().max(256).optional(),
    prompt: PromptRefSchema.optional(),
    retrieval: RetrievalFieldSchema.optional(),
  })
  .loose()
  .refine((req) => req.messages.length > 0 || req.prompt !== undefined, { message: "Too small: expected array to have >=1 items (or give 'prompt')", path: ["messages"] });
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

/** The text of a message, whatever shape its content has. */
export function messageText(message: Pick<ChatMessage, "content">): string {
  const { content } = message;
  if (typeof content === "string") return content;
  if (!content) return "";
  return content.map((part) => (part.type === "text" && typeof part.text === "string" ? part.text : "")).join("");
}

export function maxOutputTokens(req: ChatRequest): number | undefined {
  return req.max_completion_tokens ?? req.max_tokens ?? undefined;
}
